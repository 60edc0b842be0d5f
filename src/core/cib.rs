//! Our resource in the CIB's `<resources>` section (`cibadmin -Q -o
//! resources`), for the operator tool: its id, the promotable clone around
//! it, and its parameters, which become the same `Config` the agent gets.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primitive {
    pub id: String,
    /// The clone (promotable) that holds it, if any.
    pub clone_id: Option<String>,
    /// `instance_attributes`: the agent's parameters by name.
    pub params: BTreeMap<String, String>,
}

/// Every `ocf:rustpg:pgsql` primitive, in document order.
pub fn our_primitives(xml: &str) -> Result<Vec<Primitive>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("CIB XML: {e}"))?;
    Ok(doc
        .descendants()
        .filter(|n| {
            n.has_tag_name("primitive")
                && n.attribute("class") == Some("ocf")
                && n.attribute("provider") == Some("rustpg")
                && n.attribute("type") == Some("pgsql")
        })
        .filter_map(|p| {
            let clone_id = p
                .ancestors()
                .find(|a| a.has_tag_name("clone") || a.has_tag_name("master"))
                .and_then(|c| c.attribute("id"))
                .map(str::to_string);
            let params = p
                .children()
                .filter(|c| c.has_tag_name("instance_attributes"))
                .flat_map(|ia| ia.children().filter(|c| c.has_tag_name("nvpair")))
                .filter_map(|nv| {
                    Some((nv.attribute("name")?.into(), nv.attribute("value")?.into()))
                })
                .collect();
            Some(Primitive {
                id: p.attribute("id")?.to_string(),
                clone_id,
                params,
            })
        })
        .collect())
}

/// The one to work on: `wanted` by id (the primitive's or its clone's), or
/// the only one there is.
pub fn choose(all: Vec<Primitive>, wanted: Option<&str>) -> Result<Primitive, String> {
    let ids = || {
        all.iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match wanted {
        Some(w) => {
            let names = ids();
            all.into_iter()
                .find(|p| p.id == w || p.clone_id.as_deref() == Some(w))
                .ok_or_else(|| {
                    format!("no ocf:rustpg:pgsql resource {w:?} in the CIB (there are: {names})")
                })
        }
        None if all.len() == 1 => Ok(all.into_iter().next().expect("one")),
        None if all.is_empty() => Err("no ocf:rustpg:pgsql resource in the CIB".into()),
        None => Err(format!(
            "several ocf:rustpg:pgsql resources ({}): name one with --resource",
            ids()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<resources>
  <primitive id="PostgresqlVIP" class="ocf" provider="heartbeat" type="IPaddr2"/>
  <clone id="msPostgresql">
    <primitive id="Postgresql" class="ocf" provider="rustpg" type="pgsql">
      <instance_attributes id="Postgresql-instance_attributes">
        <nvpair id="a" name="rep_mode" value="sync"/>
        <nvpair id="b" name="node_list" value="pg01 pg02 pg03"/>
      </instance_attributes>
    </primitive>
    <meta_attributes id="m"><nvpair id="c" name="promotable" value="true"/></meta_attributes>
  </clone>
  <primitive id="other" class="ocf" provider="rustpg" type="pgsql"/>
</resources>"#;

    #[test]
    fn finds_ours_with_its_clone_and_parameters() {
        let all = our_primitives(XML).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id, "Postgresql");
        assert_eq!(all[0].clone_id.as_deref(), Some("msPostgresql"));
        assert_eq!(all[0].params["node_list"], "pg01 pg02 pg03");
        assert_eq!(all[1].clone_id, None);
    }

    #[test]
    fn chooses_by_either_id_or_asks() {
        let all = our_primitives(XML).unwrap();
        assert_eq!(
            choose(all.clone(), Some("msPostgresql")).unwrap().id,
            "Postgresql"
        );
        assert_eq!(choose(all.clone(), Some("other")).unwrap().id, "other");
        assert_eq!(
            choose(all.clone(), None).unwrap_err(),
            "several ocf:rustpg:pgsql resources (Postgresql, other): name one with --resource"
        );
        assert!(choose(all, Some("x"))
            .unwrap_err()
            .starts_with("no ocf:rustpg:pgsql resource \"x\""));
        assert_eq!(
            choose(Vec::new(), None).unwrap_err(),
            "no ocf:rustpg:pgsql resource in the CIB"
        );
    }
}
