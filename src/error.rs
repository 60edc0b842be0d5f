//! The one error type of the agent. Every failure carries the OCF return code
//! it maps to and a one-line exit reason that says what to fix.

use crate::ocf::rc::OcfRc;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct AgentError {
    rc: OcfRc,
    reason: String,
}

impl AgentError {
    pub fn new(rc: OcfRc, reason: impl Into<String>) -> Self {
        // An exit reason is one line: Pacemaker shows it verbatim in crm_mon.
        let reason = reason.into().replace(['\n', '\r'], " ");
        AgentError { rc, reason }
    }
    /// Something failed on this node (OCF_ERR_GENERIC, 1).
    pub fn generic(reason: impl Into<String>) -> Self {
        Self::new(OcfRc::ErrGeneric, reason)
    }
    /// A parameter is wrong for this host only, e.g. a missing file (2).
    pub fn args(reason: impl Into<String>) -> Self {
        Self::new(OcfRc::ErrArgs, reason)
    }
    /// Not supported by this agent or in this configuration (3).
    pub fn unimplemented(reason: impl Into<String>) -> Self {
        Self::new(OcfRc::ErrUnimplemented, reason)
    }
    /// Wrong ownership or permissions (4).
    pub fn perm(reason: impl Into<String>) -> Self {
        Self::new(OcfRc::ErrPerm, reason)
    }
    /// A binary or OS user is missing (5).
    pub fn installed(reason: impl Into<String>) -> Self {
        Self::new(OcfRc::ErrInstalled, reason)
    }
    /// The configuration is inherently invalid, on every node (6).
    pub fn configured(reason: impl Into<String>) -> Self {
        Self::new(OcfRc::ErrConfigured, reason)
    }

    pub fn rc(&self) -> OcfRc {
        self.rc
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}

pub type Result<T, E = AgentError> = std::result::Result<T, E>;

impl From<crate::core::decide::Verdict> for Result<OcfRc> {
    /// A verdict with a reason is a failure with that exit reason.
    fn from(v: crate::core::decide::Verdict) -> Result<OcfRc> {
        match v.reason {
            Some(reason) => Err(AgentError::new(v.rc, reason)),
            None => Ok(v.rc),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_constructor_knows_its_rc() {
        assert_eq!(AgentError::generic("x").rc(), OcfRc::ErrGeneric);
        assert_eq!(AgentError::args("x").rc(), OcfRc::ErrArgs);
        assert_eq!(AgentError::unimplemented("x").rc(), OcfRc::ErrUnimplemented);
        assert_eq!(AgentError::perm("x").rc(), OcfRc::ErrPerm);
        assert_eq!(AgentError::installed("x").rc(), OcfRc::ErrInstalled);
        assert_eq!(AgentError::configured("x").rc(), OcfRc::ErrConfigured);
    }

    #[test]
    fn exit_reason_is_a_single_line() {
        let e = AgentError::generic("first\nsecond\r\nthird");
        assert_eq!(e.reason(), "first second  third");
    }
}
