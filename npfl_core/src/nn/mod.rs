//! Neural-network building blocks: linear layers, activations, softmax cross-entropy, Adam, the MLP and its training loop.
//!
//! Everything is `f32`, row-major, with preallocated buffers, and reproduces the course's
//! `mnist_layers_activations.py` (Keras-style Xavier initialisation from PyTorch's own random streams,
//! `CrossEntropyLoss`, `torch.optim.Adam`, `TrainableModule.fit`'s aggregation). Nothing here prints.

pub mod activation;
pub mod adam;
pub mod course_rng;
pub mod exp;
pub mod loss;
pub mod mlp;
pub mod train;

#[cfg(test)]
mod torch_fixtures;

pub use crate::rows::Features;
pub use activation::Activation;
pub use adam::{
    Adam, AdamConfig, Division, PARK_PERIOD, RootSplit, TRIAL_PERIOD, TRIAL_STEPS, TinyMoments,
};
pub use course_rng::{CourseRng, xavier_bound, xavier_uniform};
pub use loss::{BatchLoss, softmax_cross_entropy};
pub use mlp::{BatchBuffers, Mlp, MlpConfig};
pub use train::{BatchEvent, EpochLogs, Examples, Logs, PhaseTimes, Trainer};

use crate::matmul::MatmulError;

/// Errors of the `nn` module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NnError {
    /// An activation name other than none, relu, tanh, sigmoid.
    #[error("unknown activation `{0}` (expected none, relu, tanh or sigmoid)")]
    UnknownActivation(String),
    /// Inconsistent sizes.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A matrix product failed.
    #[error(transparent)]
    Matmul(#[from] MatmulError),
    /// A class label outside `0..classes`.
    #[error("label {label} out of range for {classes} classes")]
    Label {
        /// The offending label.
        label: usize,
        /// The number of classes.
        classes: usize,
    },
}
