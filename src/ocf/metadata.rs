//! Render OCF meta-data XML from the parameter and action tables.
//!
//! The output is valid under both resource-agents' `ra-api-1.dtd` (what
//! ocf-tester checks) and the OCF 1.1 RelaxNG schema (what pcs uses). The DTD
//! predates OCF 1.1 and knows neither `reload-agent` nor a parameter's
//! `reloadable`; the internal DTD subset declares both, and XML gives the
//! first declaration of an attribute priority.

use crate::params::ParamSpec;

/// One `<action>` line.
#[derive(Debug)]
pub struct ActionSpec {
    pub name: &'static str,
    pub timeout_secs: u32,
    pub interval_secs: Option<u32>,
    pub depth: Option<u32>,
    pub role: Option<&'static str>,
}

impl ActionSpec {
    pub const fn new(name: &'static str, timeout_secs: u32) -> ActionSpec {
        ActionSpec {
            name,
            timeout_secs,
            interval_secs: None,
            depth: None,
            role: None,
        }
    }
}

/// Everything the meta-data says about the agent itself.
#[derive(Debug)]
pub struct AgentInfo<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub shortdesc: &'a str,
    pub longdesc: &'a str,
    pub params: &'a [ParamSpec],
    pub actions: &'a [ActionSpec],
}

/// Whether the meta-data marks a parameter `required="1"`: none is, as in
/// the stock agent (a mode that needs one says so in its description, and
/// validation refuses the configuration without it). The man page marks
/// parameters by the same answer.
pub fn required(_: &ParamSpec) -> bool {
    false
}

/// Whether the meta-data marks a parameter `unique="1"`: none is, as in
/// the stock agent.
pub fn unique(_: &ParamSpec) -> bool {
    false
}

/// The action names ra-api-1.dtd allows, plus OCF 1.1's reload-agent.
const DTD_ACTION_NAMES: &str = "start|stop|recover|monitor|restart|migrate_to|migrate_from|\
promote|demote|notify|status|reload|reload-agent|meta-data|usage|methods|validate-all";

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `<longdesc>` and `<shortdesc>`, of the agent or of a parameter.
fn descriptions(x: &mut String, longdesc: &str, shortdesc: &str) {
    x.push_str(&format!(
        "<longdesc lang=\"en\">\n{}\n</longdesc>\n",
        escape(longdesc)
    ));
    x.push_str(&format!(
        "<shortdesc lang=\"en\">{}</shortdesc>\n",
        escape(shortdesc)
    ));
}

pub fn render(agent: &AgentInfo) -> String {
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\"?>\n");
    x.push_str("<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\" [\n");
    x.push_str(&format!(
        "<!ATTLIST action name ({DTD_ACTION_NAMES}) #REQUIRED>\n\
         <!ATTLIST parameter reloadable (1|0) \"0\">\n]>\n"
    ));
    x.push_str(&format!(
        "<resource-agent name=\"{}\" version=\"{}\">\n",
        escape(agent.name),
        escape(agent.version)
    ));
    x.push_str("<version>1.1</version>\n");
    descriptions(&mut x, agent.longdesc, agent.shortdesc);
    x.push_str("<parameters>\n");
    for p in agent.params {
        let reloadable = if p.reloadable {
            " reloadable=\"1\""
        } else {
            ""
        };
        x.push_str(&format!(
            "<parameter name=\"{}\" unique=\"{}\" required=\"{}\"{reloadable}>\n",
            escape(p.name),
            u8::from(unique(p)),
            u8::from(required(p))
        ));
        descriptions(&mut x, p.longdesc, p.shortdesc);
        x.push_str(&format!(
            "<content type=\"{}\" default=\"{}\" />\n",
            p.kind.content_type(),
            escape(p.default)
        ));
        x.push_str("</parameter>\n");
    }
    x.push_str("</parameters>\n<actions>\n");
    for a in agent.actions {
        x.push_str(&format!(
            "<action name=\"{}\" timeout=\"{}s\"",
            a.name, a.timeout_secs
        ));
        if let Some(i) = a.interval_secs {
            x.push_str(&format!(" interval=\"{i}s\""));
        }
        if let Some(d) = a.depth {
            x.push_str(&format!(" depth=\"{d}\""));
        }
        if let Some(r) = a.role {
            x.push_str(&format!(" role=\"{r}\""));
        }
        x.push_str(" />\n");
    }
    x.push_str("</actions>\n</resource-agent>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;"
        );
    }
}
