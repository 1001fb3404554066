//! The SageMaker container table (`formats/containers.toml`, embedded at
//! build time) and each tag's model discovery rules.
//! (Placeholder; filled in by the container work.)
