//! `mnist_layers_activations`: an MLP with N hidden layers and a chosen activation, trained with Adam.
