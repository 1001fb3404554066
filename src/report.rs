//! Findings: the shared shape of every validation result.
//!
//! A [`Finding`] is something a check noticed about an input (a model file,
//! an archive). Findings are data, not errors: a parser that can keep going
//! records a finding and continues, so the user sees every problem at once.
//! Fatal conditions (the input cannot be read at all) are [`crate::Error`]s.

use serde::Serialize;
use std::fmt;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational: worth knowing, never blocks.
    Info,
    /// Something the container tolerates but that is probably a mistake.
    Warning,
    /// The artifact would fail or mispredict; packing refuses it.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// Where in the input a finding applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "at", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Location {
    /// A byte offset into a binary input (legacy XGBoost, UBJSON, fastText, tar).
    Offset(u64),
    /// A JSON path such as `$.learner.gradient_booster.model.trees[3].parents[7]`.
    JsonPath(String),
    /// A member of an archive, by name.
    Member(String),
    /// A tree node: tree index and node index.
    Node {
        /// Tree index in the model.
        tree: usize,
        /// Node index within the tree.
        node: usize,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Offset(o) => write!(f, "byte offset {o}"),
            Location::JsonPath(p) => f.write_str(p),
            Location::Member(m) => write!(f, "member {m}"),
            Location::Node { tree, node } => write!(f, "tree {tree}, node {node}"),
        }
    }
}

/// One thing a check noticed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable machine-readable code, e.g. `xgb.tree.cycle`. Never reused for another meaning.
    pub code: String,
    /// How serious it is.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to do about it, when there is something to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Where in the input it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl Finding {
    /// A new finding without hint or location.
    pub fn new(code: impl Into<String>, severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            code: code.into(),
            severity,
            message: message.into(),
            hint: None,
            location: None,
        }
    }

    /// Shorthand for an error-severity finding.
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message)
    }

    /// Shorthand for a warning-severity finding.
    pub fn warning(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, message)
    }

    /// Shorthand for an info-severity finding.
    pub fn info(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Info, message)
    }

    /// Attach a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Attach a location.
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]: {}", self.severity, self.code, self.message)?;
        if let Some(loc) = &self.location {
            write!(f, " (at {loc})")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "; hint: {h}")?;
        }
        Ok(())
    }
}

/// Helpers over a list of findings.
pub trait Findings {
    /// The highest severity present, if any.
    fn max_severity(&self) -> Option<Severity>;
    /// True when any finding has error severity.
    fn has_errors(&self) -> bool {
        self.max_severity() == Some(Severity::Error)
    }
}

impl Findings for [Finding] {
    fn max_severity(&self) -> Option<Severity> {
        self.iter().map(|f| f.severity).max()
    }
}

impl Findings for Vec<Finding> {
    fn max_severity(&self) -> Option<Severity> {
        self.as_slice().max_severity()
    }
}
