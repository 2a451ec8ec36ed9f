//! Training logs as the course writes them: the log directory name, `logs.txt` and TensorBoard event files.
