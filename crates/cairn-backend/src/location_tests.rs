//! Examples from restic's own location and config tests (facts only).

use super::*;

fn parse(s: &str) -> Location {
    Location::parse_with_env(s, |_| None).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn fails(s: &str) -> String {
    match Location::parse_with_env(s, |_| None) {
        Ok(l) => panic!("{s}: parsed as {l:?}"),
        Err(e) => e.to_string(),
    }
}

fn local(p: &str) -> Location {
    Location::Local { path: p.into() }
}

#[test]
fn plain_paths_are_local() {
    for p in [
        "dir1/dir2",
        "/dir1/dir2",
        "/dir1:foobar/dir2",
        r"\dir1\foobar\dir2",
        r"c:\dir1\foobar\dir2",
        r"C:\Users\appveyor\AppData\Local\Temp\1\restic-test-879453535\repo",
        "c:/dir1/foobar/dir2",
        "../up:there",
        "repo",
        "",
    ] {
        assert_eq!(parse(p), local(p), "{p}");
    }
    assert_eq!(parse("local:example"), local("example"));
    assert_eq!(parse("local:/srv/a:b"), local("/srv/a:b"));
    assert_eq!(parse("local:"), local(""));
}

#[test]
fn unknown_schemes_are_ambiguous() {
    for s in ["foobar:xxx", "foobar:/dir/dir2", "dir:x/y", "c:relative"] {
        let e = fails(s);
        assert!(e.starts_with("invalid backend\n"), "{s}: {e}");
        assert!(e.contains("`local:` prefix"));
    }
}

fn rest(url: &str, user: Option<&str>, pass: Option<&str>) -> Location {
    Location::Rest(RestLocation {
        url: url.into(),
        username: user.map(Into::into),
        password: pass.map(Into::into),
    })
}

#[test]
fn rest_urls_get_a_trailing_slash_and_lose_credentials() {
    assert_eq!(
        parse("rest:http://localhost:1234"),
        rest("http://localhost:1234/", None, None)
    );
    assert_eq!(
        parse("rest:http://localhost:1234/"),
        rest("http://localhost:1234/", None, None)
    );
    assert_eq!(
        parse("rest:https://user:p%40ss:w@host:8000/my/repo"),
        rest("https://host:8000/my/repo/", Some("user"), Some("p@ss:w"))
    );
    assert_eq!(
        parse("rest:http://user@host/"),
        rest("http://host/", Some("user"), None)
    );
    assert_eq!(
        parse("rest:http://user:@host/"),
        rest("http://host/", Some("user"), Some(""))
    );
    for bad in [
        "rest:",
        "rest:localhost/",
        "rest::123/",
        "rest:http://",
        "rest:ftp://h/",
    ] {
        fails(bad);
    }
}

#[test]
fn rest_credentials_come_from_the_environment_only_when_absent() {
    let env = |k: &str| match k {
        "RESTIC_REST_USERNAME" => Some("envuser".to_string()),
        "RESTIC_REST_PASSWORD" => Some("envpass".to_string()),
        _ => None,
    };
    let l = Location::parse_with_env("rest:http://h:1/", env).unwrap();
    assert_eq!(l, rest("http://h:1/", Some("envuser"), Some("envpass")));
    assert_eq!(l.to_string(), "rest:http://envuser:***@h:1/");
    let l = Location::parse_with_env("rest:http://u:p@h:1/", env).unwrap();
    assert_eq!(l, rest("http://h:1/", Some("u"), Some("p")));
    let l = Location::parse_with_env("rest:http://u@h:1/", env).unwrap();
    assert_eq!(l, rest("http://h:1/", Some("u"), None));
}

#[test]
fn display_never_shows_a_password() {
    for (s, shown) in [
        (
            "rest:http://hostname.foo:1234/",
            "rest:http://hostname.foo:1234/",
        ),
        (
            "rest:http://user@hostname.foo:1234/",
            "rest:http://user@hostname.foo:1234/",
        ),
        (
            "rest:http://user:@hostname.foo:1234/",
            "rest:http://user:***@hostname.foo:1234/",
        ),
        (
            "rest:http://user:p@hostname.foo:1234/",
            "rest:http://user:***@hostname.foo:1234/",
        ),
        (
            "rest:http://user:password@hostname",
            "rest:http://user:***@hostname/",
        ),
        ("rest:https://a:secret@h/x/y", "rest:https://a:***@h/x/y/"),
    ] {
        let l = parse(s);
        assert_eq!(l.to_string(), shown, "{s}");
        assert_eq!(format!("{l:?}"), format!("Location({shown})"));
        assert!(!format!("{l:?}").contains("secret"));
    }
}

#[test]
fn strip_password_matches_restic() {
    for (input, expected) in [
        ("rest:", "rest:/"),
        ("rest:localhost/", "rest:localhost/"),
        ("rest::123/", "rest::123/"),
        ("rest:http://", "rest:http://"),
        ("rest:http://hostname.foo:1234/", "rest:http://hostname.foo:1234/"),
        ("rest:http://user@hostname.foo:1234/", "rest:http://user@hostname.foo:1234/"),
        ("rest:http://user:@hostname.foo:1234/", "rest:http://user:***@hostname.foo:1234/"),
        ("rest:http://user:p@hostname.foo:1234/", "rest:http://user:***@hostname.foo:1234/"),
        (
            "rest:http://user:pppppaaafhhfuuwiiehhthhghhdkjaoowpprooghjjjdhhwuuhgj@hostname.foo:1234/",
            "rest:http://user:***@hostname.foo:1234/",
        ),
        ("rest:http://user:password@hostname", "rest:http://user:***@hostname/"),
        ("rest:http://user:password@:123", "rest:http://user:***@:123/"),
        ("rest:http://user:password@", "rest:http://user:***@/"),
        ("sftp:user@host:/srv", "sftp:user@host:/srv"),
        ("/srv/repo", "/srv/repo"),
    ] {
        assert_eq!(strip_password(input), expected, "{input}");
    }
}

fn s3(endpoint: &str, bucket: &str, prefix: &str, use_http: bool) -> Location {
    Location::S3 {
        endpoint: endpoint.into(),
        bucket: bucket.into(),
        prefix: prefix.into(),
        use_http,
    }
}

#[test]
fn s3_forms() {
    for (s, l) in [
        (
            "s3://eu-central-1/bucketname",
            s3("eu-central-1", "bucketname", "", false),
        ),
        (
            "s3://eu-central-1/bucketname/",
            s3("eu-central-1", "bucketname", "", false),
        ),
        (
            "s3://eu-central-1/bucketname/prefix/directory",
            s3("eu-central-1", "bucketname", "prefix/directory", false),
        ),
        (
            "s3://eu-central-1/bucketname/prefix/directory/",
            s3("eu-central-1", "bucketname", "prefix/directory", false),
        ),
        (
            "s3:eu-central-1/foobar",
            s3("eu-central-1", "foobar", "", false),
        ),
        (
            "s3:eu-central-1/foobar/",
            s3("eu-central-1", "foobar", "", false),
        ),
        (
            "s3:eu-central-1/foobar/prefix/directory/",
            s3("eu-central-1", "foobar", "prefix/directory", false),
        ),
        (
            "s3:hostname.foo/foobar",
            s3("hostname.foo", "foobar", "", false),
        ),
        (
            "s3:hostname.foo/foobar/prefix/directory",
            s3("hostname.foo", "foobar", "prefix/directory", false),
        ),
        (
            "s3:https://hostname/foobar",
            s3("hostname", "foobar", "", false),
        ),
        (
            "s3:https://hostname:9999/foobar",
            s3("hostname:9999", "foobar", "", false),
        ),
        (
            "s3:https://hostname:9999/foobar/",
            s3("hostname:9999", "foobar", "", false),
        ),
        (
            "s3:http://hostname:9999/foobar",
            s3("hostname:9999", "foobar", "", true),
        ),
        (
            "s3:http://hostname:9999/foobar/",
            s3("hostname:9999", "foobar", "", true),
        ),
        (
            "s3:http://hostname:9999/bucket/prefix/directory",
            s3("hostname:9999", "bucket", "prefix/directory", true),
        ),
        (
            "s3:http://hostname:9999/bucket/prefix/directory/",
            s3("hostname:9999", "bucket", "prefix/directory", true),
        ),
    ] {
        assert_eq!(parse(s), l, "{s}");
    }
    for s in ["", "/", "//", "/bucket/prefix"] {
        let e = fails(&format!("s3://{s}"));
        assert!(e.starts_with("s3: invalid format,"), "{s}: {e}");
    }
    assert_eq!(fails("s3:http://host"), "s3: bucket name not found");
    assert_eq!(parse("s3:http://h:1/b/p").to_string(), "s3:http://h:1/b/p");
}

fn sftp(user: Option<&str>, host: &str, port: Option<&str>, path: &str) -> Location {
    Location::Sftp {
        user: user.map(Into::into),
        host: host.into(),
        port: port.map(Into::into),
        path: path.into(),
    }
}

#[test]
fn sftp_forms() {
    for (s, l) in [
        (
            "sftp://user@host/dir/subdir",
            sftp(Some("user"), "host", None, "dir/subdir"),
        ),
        (
            "sftp://host/dir/subdir",
            sftp(None, "host", None, "dir/subdir"),
        ),
        (
            "sftp://host//dir/subdir",
            sftp(None, "host", None, "/dir/subdir"),
        ),
        (
            "sftp://host:10022//dir/subdir",
            sftp(None, "host", Some("10022"), "/dir/subdir"),
        ),
        (
            "sftp://user@host:10022//dir/subdir",
            sftp(Some("user"), "host", Some("10022"), "/dir/subdir"),
        ),
        (
            "sftp://user@host/dir/subdir/../other",
            sftp(Some("user"), "host", None, "dir/other"),
        ),
        (
            "sftp://user@host/dir///subdir",
            sftp(Some("user"), "host", None, "dir/subdir"),
        ),
        (
            "sftp://user@[::1]/dir",
            sftp(Some("user"), "::1", None, "dir"),
        ),
        (
            "sftp://user@[::1]:22/dir",
            sftp(Some("user"), "::1", Some("22"), "dir"),
        ),
        (
            "sftp:user@host:/dir/subdir",
            sftp(Some("user"), "host", None, "/dir/subdir"),
        ),
        (
            "sftp:user@domain@host:/dir/subdir",
            sftp(Some("user@domain"), "host", None, "/dir/subdir"),
        ),
        (
            "sftp:host:../dir/subdir",
            sftp(None, "host", None, "../dir/subdir"),
        ),
        (
            "sftp:user@host:dir/subdir:suffix",
            sftp(Some("user"), "host", None, "dir/subdir:suffix"),
        ),
        (
            "sftp:user@host:dir/subdir/../other",
            sftp(Some("user"), "host", None, "dir/other"),
        ),
        (
            "sftp:user@host:dir///subdir",
            sftp(Some("user"), "host", None, "dir/subdir"),
        ),
    ] {
        assert_eq!(parse(s), l, "{s}");
    }
    fails("sftp://host:dir");
    fails("sftp://host");
    fails("sftp:hostonly");
    assert!(fails("sftp:host:~/repo").contains("tilde"));
}

#[test]
fn bucket_stores() {
    let b2 = |b: &str, p: &str| Location::B2 {
        bucket: b.into(),
        prefix: p.into(),
    };
    assert_eq!(parse("b2:bucketname"), b2("bucketname", ""));
    assert_eq!(parse("b2:bucketname:"), b2("bucketname", ""));
    assert_eq!(
        parse("b2:bucketname:/prefix/directory"),
        b2("bucketname", "prefix/directory")
    );
    assert_eq!(parse("b2:foobar:/"), b2("foobar", ""));
    assert_eq!(fails("b2:"), "bucket name not found");
    assert_eq!(fails("b2:abc"), "bucket name is too short");
    assert_eq!(
        fails("b2:bucket_name"),
        "bucket name contains invalid characters, allowed are: a-z, 0-9, dash (-)"
    );
    assert_eq!(
        fails("b2:bucketname/prefix/directory/"),
        "bucket name contains invalid characters, allowed are: a-z, 0-9, dash (-)"
    );

    let azure = |c: &str, p: &str| Location::Azure {
        container: c.into(),
        prefix: p.into(),
    };
    assert_eq!(parse("azure:container-name:/"), azure("container-name", ""));
    assert_eq!(
        parse("azure:container-name:/prefix/directory/"),
        azure("container-name", "prefix/directory")
    );
    fails("azure:container-name");

    let gs = |b: &str, p: &str| Location::Gs {
        bucket: b.into(),
        prefix: p.into(),
    };
    assert_eq!(parse("gs:bucketname:/"), gs("bucketname", ""));
    assert_eq!(
        parse("gs:bucketname:/prefix/directory"),
        gs("bucketname", "prefix/directory")
    );
    fails("gs:bucketname");

    let swift = |c: &str, p: &str| Location::Swift {
        container: c.into(),
        prefix: p.into(),
    };
    assert_eq!(parse("swift:cnt1:/"), swift("cnt1", ""));
    assert_eq!(
        parse("swift:cnt3:/prefix/longer"),
        swift("cnt3", "prefix/longer")
    );
    for bad in [
        "swift://hostname/container",
        "swift:////",
        "swift://",
        "swift:////prefix",
        "swift:container",
        "swift:container:",
        "swift:container/prefix",
    ] {
        fails(bad);
    }

    assert_eq!(
        parse("rclone:local:foo:/bar"),
        Location::Rclone {
            remote: "local:foo:/bar".into()
        }
    );
}

#[test]
fn nfs_urls() {
    assert_eq!(
        parse("nfs://filer/export/backups/"),
        Location::Nfs {
            server: "filer".into(),
            port: None,
            path: "/export/backups".into()
        }
    );
    let l = parse("nfs://10.0.0.5:2049/srv/nfs//repo");
    assert_eq!(
        l,
        Location::Nfs {
            server: "10.0.0.5".into(),
            port: Some(2049),
            path: "/srv/nfs/repo".into()
        }
    );
    assert_eq!(l.to_string(), "nfs://10.0.0.5:2049/srv/nfs/repo");
    for bad in [
        "nfs://",
        "nfs://host",
        "nfs://:1/x",
        "nfs://h:port/x",
        "nfs:/x",
    ] {
        fails(bad);
    }
}

#[test]
fn clean_is_gos_path_clean() {
    for (i, o) in [
        ("", "."),
        ("/", "/"),
        ("a/b/../c", "a/c"),
        ("../a", "../a"),
        ("/../a", "/a"),
        ("a//b/./", "a/b"),
        ("a/..", "."),
        ("../../x/..", "../.."),
    ] {
        assert_eq!(clean(i), o, "{i}");
    }
}

#[test]
fn schemes() {
    assert_eq!(parse("/x").scheme(), "local");
    assert_eq!(parse("rest:http://h/").scheme(), "rest");
    assert_eq!(parse("sftp:h:/x").scheme(), "sftp");
}
