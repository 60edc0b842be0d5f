//! `crm_mon -1 -A --output-as=xml`, parsed once per invocation into what the
//! decisions need: which nodes exist and are online, where our resource is
//! promoted, and every node attribute.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// Every node crm_mon knows, lower-cased, with whether it is online.
    pub nodes: BTreeMap<String, bool>,
    /// Nodes (lower-cased) where an instance of our resource is promoted.
    pub promoted: Vec<String>,
    /// Node attributes as crm_mon shows them (both lifetimes), per node.
    pub attributes: BTreeMap<String, BTreeMap<String, String>>,
}

impl ClusterView {
    /// The stock agent's `node_exist`: crm_mon lists the node at all.
    pub fn exists(&self, node: &str) -> bool {
        self.nodes.contains_key(node)
    }

    /// The stock agent's `is_node_online`.
    pub fn online(&self, node: &str) -> bool {
        self.nodes.get(node).copied().unwrap_or(false)
    }

    pub fn attribute(&self, node: &str, name: &str) -> Option<&str> {
        self.attributes.get(node)?.get(name).map(String::as_str)
    }

    pub fn promoted_exists(&self) -> bool {
        !self.promoted.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmMonError(pub String);

/// Whether a `<resource id=...>` is an instance of our resource: the stock
/// agent's `RESOURCE_NAME`, or `RESOURCE_NAME:N` for unique clones.
fn is_instance_of(id: &str, resource: &str) -> bool {
    id == resource
        || id
            .split_once(':')
            .is_some_and(|(base, n)| base == resource && n.parse::<u32>().is_ok())
}

fn child<'a, 'i>(parent: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    parent
        .children()
        .find(|n| n.is_element() && n.has_tag_name(name))
}

/// Parse the XML of `crm_mon -1 -A --output-as=xml` (root `pacemaker-result`)
/// or of the legacy `--as-xml` (root `crm_mon`). Node names are lower-cased,
/// as the stock agent compares them.
pub fn parse(xml: &str, resource: &str) -> Result<ClusterView, CrmMonError> {
    let doc =
        roxmltree::Document::parse(xml).map_err(|e| CrmMonError(format!("crm_mon XML: {e}")))?;
    let root = doc.root_element();
    if !matches!(root.tag_name().name(), "pacemaker-result" | "crm_mon") {
        return Err(CrmMonError(format!(
            "unexpected crm_mon XML root <{}>",
            root.tag_name().name()
        )));
    }
    let mut view = ClusterView::default();
    if let Some(nodes) = child(root, "nodes") {
        for n in nodes.children().filter(|n| n.has_tag_name("node")) {
            if let Some(name) = n.attribute("name") {
                view.nodes
                    .insert(name.to_lowercase(), n.attribute("online") == Some("true"));
            }
        }
    }
    if let Some(resources) = child(root, "resources") {
        for r in resources
            .descendants()
            .filter(|n| n.has_tag_name("resource"))
        {
            let ours = r
                .attribute("id")
                .is_some_and(|id| is_instance_of(id, resource));
            let promoted = matches!(r.attribute("role"), Some("Promoted" | "Master"));
            if ours && promoted {
                for n in r.children().filter(|n| n.has_tag_name("node")) {
                    if let Some(name) = n.attribute("name") {
                        view.promoted.push(name.to_lowercase());
                    }
                }
            }
        }
    }
    if let Some(attrs) = child(root, "node_attributes") {
        for n in attrs.children().filter(|n| n.has_tag_name("node")) {
            let Some(node) = n.attribute("name") else {
                continue;
            };
            let map = view.attributes.entry(node.to_lowercase()).or_default();
            for a in n.children().filter(|a| a.has_tag_name("attribute")) {
                if let (Some(k), Some(v)) = (a.attribute("name"), a.attribute("value")) {
                    map.insert(k.to_string(), v.to_string());
                }
            }
        }
    }
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<pacemaker-result api-version="2.25" request="crm_mon -1 -A --output-as=xml">
  <nodes>
    <node name="PG01" id="1" online="true"/>
    <node name="pg02" id="2" online="true"/>
    <node name="pg03" id="3" online="false"/>
    <node name="pg010" id="4" online="true"/>
  </nodes>
  <resources>
    <resource id="PostgresqlVIP" resource_agent="ocf:heartbeat:IPaddr2" role="Started"><node name="pg01" id="1" cached="true"/></resource>
    <clone id="msPostgresql" multi_state="true" unique="false">
      <resource id="Postgresql" resource_agent="ocf:rustpg:pgsql" role="Promoted" active="true"><node name="PG01" id="1" cached="true"/></resource>
      <resource id="Postgresql" resource_agent="ocf:rustpg:pgsql" role="Unpromoted" active="true"><node name="pg02" id="2" cached="true"/></resource>
      <resource id="PostgresqlX" resource_agent="ocf:rustpg:pgsql" role="Promoted" active="true"><node name="pg010" id="4" cached="true"/></resource>
    </clone>
  </resources>
  <node_attributes>
    <node name="PG01">
      <attribute name="Postgresql-status" value="PRI"/>
      <attribute name="master-Postgresql" value="1000"/>
    </node>
    <node name="pg02">
      <attribute name="Postgresql-data-status" value="STREAMING|SYNC"/>
    </node>
  </node_attributes>
  <status code="0" message="OK"/>
</pacemaker-result>"#;

    #[test]
    fn nodes_roles_and_attributes() {
        let v = parse(XML, "Postgresql").unwrap();
        assert!(v.online("pg01") && v.online("pg02") && !v.online("pg03"));
        assert!(v.exists("pg03") && !v.exists("pg04"));
        assert_eq!(v.promoted, ["pg01"]);
        assert_eq!(v.attribute("pg01", "Postgresql-status"), Some("PRI"));
        assert_eq!(
            v.attribute("pg02", "Postgresql-data-status"),
            Some("STREAMING|SYNC")
        );
        assert_eq!(v.attribute("pg03", "Postgresql-status"), None);
    }

    /// The stock agent greps `<resource id="pgsql" .*`; a resource whose name
    /// merely starts with ours must not count, nor a node whose name does.
    #[test]
    fn names_match_exactly() {
        let v = parse(XML, "Postgresql").unwrap();
        assert!(!v.promoted.contains(&"pg010".to_string()));
        let v = parse(XML, "Postgres").unwrap();
        assert!(v.promoted.is_empty());
    }

    #[test]
    fn unique_clone_instances_and_legacy_roles() {
        let xml = r#"<crm_mon><nodes><node name="a" online="true"/></nodes><resources>
            <clone id="ms"><resource id="pg:1" role="Master"><node name="a"/></resource></clone>
            </resources></crm_mon>"#;
        assert_eq!(parse(xml, "pg").unwrap().promoted, ["a"]);
        let xml = r#"<crm_mon><resources><resource id="pg:x" role="Master"><node name="a"/></resource></resources></crm_mon>"#;
        assert!(parse(xml, "pg").unwrap().promoted.is_empty());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse("", "pg").is_err());
        assert!(parse("<html/>", "pg").is_err());
        assert!(parse("<pacemaker-result><nodes>", "pg").is_err());
    }

    #[test]
    fn empty_result_is_an_empty_view() {
        let v = parse("<pacemaker-result/>", "pg").unwrap();
        assert_eq!(v, ClusterView::default());
    }
}
