use super::*;
use cairn::format::GoTime;

fn snap(n: u8, time: &str, host: &str, tags: &[&str]) -> Arc<SnapshotEntry> {
    let mut snapshot = Snapshot::new(GoTime::parse(time).unwrap(), Id::hash(&[n]));
    snapshot.hostname = host.into();
    snapshot.tags = tags.iter().map(|t| t.to_string()).collect();
    Arc::new(SnapshotEntry {
        id: Id::hash(&[n, n]),
        snapshot,
    })
}

fn defaults() -> Vec<String> {
    DEFAULT_PATH_TEMPLATES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn names(tree: &Tree, path: &str) -> Vec<String> {
    tree.get(path).unwrap().names.iter().cloned().collect()
}

#[test]
fn restic_default_layout() {
    let a = snap(1, "2024-01-01T10:00:00Z", "alpha", &["daily", "a/b"]);
    let b = snap(2, "2024-01-01T10:00:00Z", "beta", &[]);
    let c = snap(3, "2024-02-01T10:00:00+02:00", "alpha", &["daily"]);
    let tree = Tree::build(
        &[a.clone(), b, c.clone()],
        &defaults(),
        time_template::DEFAULT_TIME_TEMPLATE,
    );
    assert_eq!(names(&tree, ""), ["hosts", "ids", "snapshots", "tags"]);
    assert_eq!(
        names(&tree, "/snapshots"),
        [
            "2024-01-01T10:00:00Z",
            "2024-01-01T10:00:00Z-1",
            "2024-02-01T10:00:00+02:00",
            "latest"
        ]
    );
    let latest = tree.get("/snapshots/latest").unwrap();
    assert_eq!(
        latest.link_target.as_deref(),
        Some("2024-02-01T10:00:00+02:00")
    );
    assert_eq!(latest.snapshot.as_ref().unwrap().id, c.id);
    assert_eq!(names(&tree, "/hosts"), ["alpha", "beta"]);
    assert_eq!(names(&tree, "/tags"), ["a_b", "daily"]);
    assert_eq!(
        names(&tree, "/tags/daily"),
        [
            "2024-01-01T10:00:00Z",
            "2024-02-01T10:00:00+02:00",
            "latest"
        ]
    );
    let short = a.id.to_hex()[..8].to_string();
    assert!(names(&tree, "/ids").contains(&short));
    let entry = tree.get(&format!("/ids/{short}")).unwrap();
    assert_eq!(entry.snapshot.as_ref().unwrap().id, a.id);
    assert!(entry.link_target.is_none());
}

#[test]
fn custom_templates_and_hostile_values() {
    let a = snap(1, "2024-01-01T10:00:00Z", "../..", &[]);
    let templates = vec!["by/%h/%u/%I".to_string(), "plain".to_string()];
    let tree = Tree::build(std::slice::from_ref(&a), &templates, "2006");
    assert_eq!(names(&tree, ""), ["by", "plain"]);
    assert_eq!(names(&tree, "/by"), [".._.."]);
    assert_eq!(names(&tree, "/by/.._../_"), [a.id.to_hex()]);
    assert!(tree.get("/plain").unwrap().snapshot.is_some());
}

#[test]
fn static_prefixes() {
    assert_eq!(static_prefix("hosts/%h/%T"), "hosts");
    assert_eq!(static_prefix("a/b/x%T"), "a/b");
    assert_eq!(static_prefix("%T"), "");
    assert_eq!(static_prefix("plain"), "");
    assert_eq!(clean("/a//b/../c/"), "/a/c");
}
