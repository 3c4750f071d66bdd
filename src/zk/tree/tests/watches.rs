//! Watches: registration, firing order, one-shot behaviour, SetWatches.
