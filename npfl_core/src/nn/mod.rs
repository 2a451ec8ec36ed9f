//! Neural-network building blocks: linear layers, activations, softmax cross-entropy, Adam, the MLP and its training loop.
