//! The OCF environment, parsed once from an injected map (never `std::env`
//! inside the logic), into plain typed values.

use std::collections::BTreeMap;

/// The raw environment: every variable Pacemaker handed us.
pub type RawEnv = BTreeMap<String, String>;

pub const RESKEY_PREFIX: &str = "OCF_RESKEY_";

/// The notify variables' prefix (`<prefix>type`, `<prefix>promote_uname`,
/// ...), read by `core::notify`.
pub const NOTIFY_PREFIX: &str = "OCF_RESKEY_CRM_meta_notify_";

/// What the OCF environment says about this invocation (not the resource
/// parameters: those are in [`crate::config::Config`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcfEnv {
    /// `OCF_RESOURCE_INSTANCE` verbatim, e.g. `pgsql:0`.
    pub instance: String,
    /// The instance up to the first `:` (clone suffix stripped), as the stock
    /// agent names its attributes.
    pub resource_name: String,
    /// `OCF_RESKEY_CRM_meta_interval` in milliseconds; 0 for a probe.
    pub interval_ms: u64,
    /// `OCF_RESKEY_CRM_meta_timeout` in milliseconds, when Pacemaker set it.
    pub timeout_ms: Option<u64>,
    /// `OCF_CHECK_LEVEL` (or `OCF_RESKEY_OCF_CHECK_LEVEL`), 0 when unset.
    pub check_level: u32,
    /// `OCF_RESKEY_CRM_meta_on_node`, the node Pacemaker runs us for.
    pub on_node: Option<String>,
    /// Whether the resource is a promotable clone.
    pub promotable: bool,
    /// `OCF_RESKEY_crm_feature_set`, e.g. `3.16.1`.
    pub feature_set: Option<String>,
}

impl OcfEnv {
    pub fn from_raw(env: &RawEnv) -> OcfEnv {
        let get = |k: &str| env.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let instance = get("OCF_RESOURCE_INSTANCE").unwrap_or("pgsql").to_string();
        let resource_name = instance.split(':').next().unwrap_or_default().to_string();
        let check_level = get("OCF_CHECK_LEVEL")
            .or_else(|| get("OCF_RESKEY_OCF_CHECK_LEVEL"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        // ocf_is_ms: promotable (Pacemaker 2.x) or the legacy master_max > 0.
        let promotable = get("OCF_RESKEY_CRM_meta_promotable").is_some_and(is_true)
            || get("OCF_RESKEY_CRM_meta_master_max")
                .and_then(|v| v.parse::<u32>().ok())
                .is_some_and(|n| n > 0);
        OcfEnv {
            instance,
            resource_name,
            interval_ms: get("OCF_RESKEY_CRM_meta_interval")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            timeout_ms: get("OCF_RESKEY_CRM_meta_timeout").and_then(|v| v.parse().ok()),
            check_level,
            on_node: get("OCF_RESKEY_CRM_meta_on_node").map(str::to_string),
            promotable,
            feature_set: get("OCF_RESKEY_crm_feature_set").map(str::to_string),
        }
    }

    /// A probe is a monitor with interval 0.
    pub fn is_probe(&self) -> bool {
        self.interval_ms == 0
    }
}

/// Build a `RawEnv` from literal pairs (tests).
#[cfg(test)]
pub fn env_of(pairs: &[(&str, &str)]) -> RawEnv {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `ocf_is_true` of ocf-shellfuncs: the exact set of words it accepts.
pub fn is_true(v: &str) -> bool {
    matches!(
        v,
        "yes" | "true" | "1" | "YES" | "TRUE" | "True" | "ja" | "on" | "ON"
    )
}

/// The words we accept as false; anything that is neither is a typo.
pub fn is_false(v: &str) -> bool {
    matches!(
        v,
        "no" | "false" | "0" | "NO" | "FALSE" | "False" | "nein" | "off" | "OFF"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use env_of as env;

    #[test]
    fn empty_environment_is_a_probe_of_pgsql() {
        let e = OcfEnv::from_raw(&RawEnv::new());
        assert_eq!(e.instance, "pgsql");
        assert_eq!(e.resource_name, "pgsql");
        assert!(e.is_probe());
        assert_eq!(e.timeout_ms, None);
        assert_eq!(e.check_level, 0);
        assert!(!e.promotable);
    }

    #[test]
    fn clone_suffix_is_stripped_from_the_resource_name() {
        let e = OcfEnv::from_raw(&env(&[("OCF_RESOURCE_INSTANCE", "Postgresql:2")]));
        assert_eq!(e.instance, "Postgresql:2");
        assert_eq!(e.resource_name, "Postgresql");
    }

    #[test]
    fn meta_fields_are_parsed() {
        let e = OcfEnv::from_raw(&env(&[
            ("OCF_RESKEY_CRM_meta_interval", "4000"),
            ("OCF_RESKEY_CRM_meta_timeout", "60000"),
            ("OCF_RESKEY_OCF_CHECK_LEVEL", "10"),
            ("OCF_RESKEY_CRM_meta_promotable", "true"),
            ("OCF_RESKEY_CRM_meta_on_node", "pg01"),
        ]));
        assert_eq!(e.interval_ms, 4000);
        assert!(!e.is_probe());
        assert_eq!(e.timeout_ms, Some(60000));
        assert_eq!(e.check_level, 10);
        assert!(e.promotable);
        assert_eq!(e.on_node.as_deref(), Some("pg01"));
    }

    #[test]
    fn legacy_master_max_means_promotable() {
        let e = OcfEnv::from_raw(&env(&[("OCF_RESKEY_CRM_meta_master_max", "1")]));
        assert!(e.promotable);
        let e = OcfEnv::from_raw(&env(&[("OCF_RESKEY_CRM_meta_master_max", "0")]));
        assert!(!e.promotable);
    }

    #[test]
    fn garbage_meta_values_fall_back_to_defaults() {
        let e = OcfEnv::from_raw(&env(&[
            ("OCF_RESKEY_CRM_meta_interval", "soon"),
            ("OCF_RESKEY_CRM_meta_timeout", "-1"),
            ("OCF_CHECK_LEVEL", "high"),
        ]));
        assert_eq!(e.interval_ms, 0);
        assert_eq!(e.timeout_ms, None);
        assert_eq!(e.check_level, 0);
    }

    #[test]
    fn booleans_follow_ocf_is_true() {
        for t in ["yes", "true", "1", "YES", "TRUE", "True", "ja", "on", "ON"] {
            assert!(is_true(t) && !is_false(t), "{t}");
        }
        for f in ["no", "false", "0", "off", "FALSE", "nein"] {
            assert!(is_false(f) && !is_true(f), "{f}");
        }
        for neither in ["", "maybe", "tru", "Yes "] {
            assert!(!is_true(neither) && !is_false(neither), "{neither}");
        }
    }
}
