//! The one error type of the agent. Every failure carries the OCF return code
//! it maps to and a one-line exit reason that says what to fix.

use crate::ocf::rc::OcfRc;

/// The bytes of an exit reason Pacemaker keeps (`EXIT_REASON_MAX_LEN` in
/// lib/services/services_linux.c): `crm_mon` shows no more. Every exit
/// reason is written to fit, with the longer explanation, when there is
/// one, in the log ([`AgentError::with_detail`]).
pub const EXIT_REASON_MAX: usize = 128;

/// Displayed as the log says it ([`AgentError::explained`]); the exit
/// reason is [`AgentError::reason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.explained())]
pub struct AgentError {
    rc: OcfRc,
    reason: String,
    /// The longer text the log keeps: what the exit reason says, with the
    /// explanation (and the full commands) that do not fit in
    /// [`EXIT_REASON_MAX`].
    detail: Option<String>,
}

/// One line: Pacemaker shows an exit reason verbatim in crm_mon.
fn one_line(text: String) -> String {
    text.replace(['\n', '\r'], " ")
}

impl AgentError {
    pub fn new(rc: OcfRc, reason: impl Into<String>) -> Self {
        AgentError {
            rc,
            reason: one_line(reason.into()),
            detail: None,
        }
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

    /// The same failure, with the longer text the log keeps
    /// ([`crate::ocf::log::exit_reason_explained`]).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(one_line(detail.into())).filter(|d| *d != self.reason);
        self
    }

    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// What the log says: the detail, else the exit reason.
    pub fn explained(&self) -> &str {
        self.detail.as_deref().unwrap_or(&self.reason)
    }

    /// The same failure, as OCF_ERR_GENERIC.
    pub fn into_generic(self) -> Self {
        AgentError {
            rc: OcfRc::ErrGeneric,
            ..self
        }
    }

    /// The same failure put in context: `reason` rewrites the exit reason,
    /// `detail` the log's text (the exit reason when there was no detail).
    pub fn in_context(
        self,
        reason: impl FnOnce(&str) -> String,
        detail: impl FnOnce(&str) -> String,
    ) -> Self {
        let long = detail(self.explained());
        AgentError::new(self.rc, reason(&self.reason)).with_detail(long)
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
        let e = e.with_detail("a\nb");
        assert_eq!(e.detail(), Some("a b"));
    }

    #[test]
    fn the_detail_is_what_the_log_says_and_context_keeps_both() {
        let e = AgentError::perm("short");
        assert_eq!((e.detail(), e.explained()), (None, "short"));
        // A detail that only repeats the exit reason is none.
        assert_eq!(e.clone().with_detail("short").detail(), None);
        let e = e.with_detail("short, and why");
        assert_eq!(e.explained(), "short, and why");
        let wrapped = e.in_context(|r| format!("{r} (here)"), |d| format!("{d} (and there)"));
        assert_eq!(wrapped.rc(), OcfRc::ErrPerm);
        assert_eq!(wrapped.reason(), "short (here)");
        assert_eq!(wrapped.detail(), Some("short, and why (and there)"));
        let plain = AgentError::generic("x").in_context(|r| format!("{r}!"), |d| format!("{d}!"));
        assert_eq!((plain.reason(), plain.detail()), ("x!", None));
        // What logs and the operator tool show: the whole story.
        assert_eq!(wrapped.to_string(), "short, and why (and there)");
        assert_eq!(plain.to_string(), "x!");
    }
}
