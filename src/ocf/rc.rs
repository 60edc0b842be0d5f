//! OCF 1.1 return codes.

/// Every exit code an OCF 1.1 agent may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OcfRc {
    Success = 0,
    ErrGeneric = 1,
    ErrArgs = 2,
    ErrUnimplemented = 3,
    ErrPerm = 4,
    ErrInstalled = 5,
    ErrConfigured = 6,
    NotRunning = 7,
    RunningPromoted = 8,
    FailedPromoted = 9,
    Degraded = 190,
    DegradedPromoted = 191,
}

impl OcfRc {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The name used in OCF documentation and Pacemaker logs.
    pub fn name(self) -> &'static str {
        match self {
            OcfRc::Success => "OCF_SUCCESS",
            OcfRc::ErrGeneric => "OCF_ERR_GENERIC",
            OcfRc::ErrArgs => "OCF_ERR_ARGS",
            OcfRc::ErrUnimplemented => "OCF_ERR_UNIMPLEMENTED",
            OcfRc::ErrPerm => "OCF_ERR_PERM",
            OcfRc::ErrInstalled => "OCF_ERR_INSTALLED",
            OcfRc::ErrConfigured => "OCF_ERR_CONFIGURED",
            OcfRc::NotRunning => "OCF_NOT_RUNNING",
            OcfRc::RunningPromoted => "OCF_RUNNING_PROMOTED",
            OcfRc::FailedPromoted => "OCF_FAILED_PROMOTED",
            OcfRc::Degraded => "OCF_DEGRADED",
            OcfRc::DegradedPromoted => "OCF_DEGRADED_PROMOTED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_ocf_1_1_table() {
        let table = [
            (OcfRc::Success, 0),
            (OcfRc::ErrGeneric, 1),
            (OcfRc::ErrArgs, 2),
            (OcfRc::ErrUnimplemented, 3),
            (OcfRc::ErrPerm, 4),
            (OcfRc::ErrInstalled, 5),
            (OcfRc::ErrConfigured, 6),
            (OcfRc::NotRunning, 7),
            (OcfRc::RunningPromoted, 8),
            (OcfRc::FailedPromoted, 9),
            (OcfRc::Degraded, 190),
            (OcfRc::DegradedPromoted, 191),
        ];
        for (rc, code) in table {
            assert_eq!(rc.code(), code, "{}", rc.name());
        }
    }
}
