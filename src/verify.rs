//! `verify`: judge an existing `model.tar.gz` the way SageMaker will.
//! (Placeholder; filled in by the verify work.)
