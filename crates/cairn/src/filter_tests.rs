//! Tests of restic's pattern semantics.

use super::*;

fn list(patterns: &[&str]) -> PatternList {
    PatternList::new(patterns, false).unwrap()
}

#[test]
fn go_filepath_match() {
    let ok = |p: &str, n: &str| glob_match(p.as_bytes(), n.as_bytes());
    for (p, n, want) in [
        ("abc", "abc", true),
        ("*", "abc", true),
        ("*c", "abc", true),
        ("a*", "a", true),
        ("a*", "ab/c", false),
        ("a*/b", "abc/b", true),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
        ("a*b?c*x", "abxbbxdbxebxczzx", true),
        ("a*b?c*x", "abxbbxdbxebxczzy", false),
        ("ab[c]", "abc", true),
        ("ab[b-d]", "abc", true),
        ("ab[e-g]", "abc", false),
        ("ab[^c]", "abc", false),
        ("ab[^e-g]", "abc", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "ab", false),
        ("a?b", "a☺b", true),
        ("a[^a]b", "a☺b", true),
        ("a???b", "a☺b", false),
        ("[a-ζ]*", "α", true),
        ("*[a-ζ]", "A", false),
        ("a?b", "a/b", false),
        ("[\\]a]", "]", true),
        ("[\\-]", "-", true),
        ("[x\\-]", "-", true),
        ("*x", "xxx", true),
        ("[?]", "?", true),
    ] {
        assert_eq!(ok(p, n), Ok(want), "{p:?} {n:?}");
    }
    for (p, n) in [
        ("[]a]", "]"),
        ("[-]", "-"),
        ("[x-]", "x"),
        ("[-x]", "a"),
        ("\\", "a"),
        ("[a-b-c]", "a"),
        ("[", "a"),
        ("[^", "a"),
        ("[^bc", "a"),
        ("a[", "a"),
        ("a[", "ab"),
        ("a[", "x"),
        ("a/b[", "x"),
        ("*x[", "a"),
    ] {
        assert_eq!(ok(p, n), Err(BadPattern), "{p:?} {n:?}");
    }
    // Invalid UTF-8 in the name is one character per byte.
    assert_eq!(glob_match(b"a?b", b"a\xffb"), Ok(true));
    assert_eq!(glob_match(b"a\xffb", b"a\xffb"), Ok(true));
}

#[test]
fn clean_like_go() {
    for (input, want) in [
        ("", "."),
        ("/", "/"),
        ("a//b/", "a/b"),
        ("./a/./b", "a/b"),
        ("/../a", "/a"),
        ("a/../..", ".."),
        ("/foo/../bar", "/bar"),
        ("../../x/..", "../.."),
    ] {
        assert_eq!(clean(input.as_bytes()), want.as_bytes(), "{input:?}");
    }
}

// (pattern, path, expected) as in restic's filter tests.
const MATCH: &[(&str, &str, bool)] = &[
    ("*.go", "/foo/bar/test.go", true),
    ("*.c", "/foo/bar/test.go", false),
    ("*", "/foo/bar/test.go", true),
    ("**", "/foo/bar/test.go", true),
    ("foo*", "/foo/bar/test.go", true),
    ("bar*", "/foo/bar/test.go", true),
    ("/bar*", "/foo/bar/test.go", false),
    ("bar/*", "/foo/bar/test.go", true),
    ("baz/*", "/foo/bar/test.go", false),
    ("bar/test.go", "/foo/bar/test.go", true),
    ("ba*/*.go", "/foo/bar/test.go", true),
    ("bb*/*.go", "/foo/bar/test.go", false),
    ("tesT.*", "/foo/bar/test.go", false),
    ("/foo/bar/", "/foo/bar", true),
    ("/foo/bar", "/foo/baz/", false),
    ("/foo///bar", "/foo/bar", true),
    ("/foo/../bar", "/foo/bar", false),
    ("/foo/../bar", "/bar", true),
    ("/foo", "/foo/baz", true),
    ("/foo/*", "/foo", false),
    ("/foo/*", "/foo/baz", true),
    ("bar", "/foo/bar/baz", true),
    ("/foo/*test.*", "/foo/bar/test.go", false),
    ("/foo/*/test.*", "/foo/bar/test.go", true),
    ("/*/*/bar/test.*", "/foo/bar/baz/test.go", false),
    ("/*/*/baz/test.*", "/foo/bar/baz/test.go", true),
    ("/foo/bar/test.*", "bar/baz/test.go", false),
    ("baz/test.*", "bar/baz/test.go", true),
    ("sdk", "/foo/bar/sdk/test/sdk_foo.go", true),
    (
        "sdk/*/cpp/*/*vars*.html",
        "/usr/share/doc/libreoffice/sdk/docs/cpp/ref/a00517.html",
        false,
    ),
    (
        "foo/**/bar/*.go",
        "/home/user/foo/work/special/project/bar/test.go",
        true,
    ),
    ("foo/**/bar/*.go", "/home/user/foo/bar/test.go", true),
    ("foo/**/bar/*.go", "foo/bar/baz/bar/test.go", true),
    ("foo/**/bar/*.go", "/home/user/foo/test.c", false),
    ("foo/**/bar/*.go", "bar/foo/main.go", false),
    ("foo/**/bar/*.go", "bar/main.go", false),
    ("foo/**/bar", "/home/user/foo/x/y/bar/main.go", true),
    (
        "foo/**/bar/**/x",
        "/home/user/foo/blaaa/blaz/bar/shared/work/x",
        true,
    ),
    ("user/**/important*", "/home/user/work/x/y/hidden/x", false),
    (
        "user/**/hidden*/**/c",
        "/home/user/work/x/y/hidden/z/a/b/c",
        true,
    ),
    ("/", "/anything/at/all", true),
];

#[test]
fn matches_like_restic() {
    for &(p, path, want) in MATCH {
        assert_eq!(list(&[p]).matches(path.as_bytes()), want, "{p:?} {path:?}");
    }
}

const CHILD: &[(&str, &str, bool)] = &[
    ("foo/bar", "/foo", true),
    ("baz", "/foo/bar", true),
    ("/foo/bar", "/foo", true),
    ("/foo/bar/baz", "/foo/bar", true),
    ("/foo/bar/baz", "/foo/baz", false),
    ("/foo/**/qux", "/foo/bar/baz/boo", true),
    ("/foo/*/qux", "/foo/bar", true),
    ("/foo/*/qux", "/foo/bar/boo", false),
    ("/baz/bar", "/foo", false),
    ("/*/bar", "/foo", true),
    ("/bar/*", "/foo", false),
    ("/foo/*/baz", "/bar/baz", false),
    ("/**/bar", "/foo/bar", true),
];

#[test]
fn child_may_match_like_restic() {
    for &(p, path, want) in CHILD {
        assert_eq!(
            list(&[p]).child_may_match(path.as_bytes()),
            want,
            "{p:?} {path:?}"
        );
    }
}

#[test]
fn lists_with_negation() {
    type Case = (&'static [&'static str], &'static str, bool, bool);
    const CASES: &[Case] = &[
        (&[], "/foo/bar/test.go", false, false),
        (&["*.go"], "/foo/bar", false, true),
        (&["x"], "/foo/bar/test.go", false, true),
        (&["?", "x"], "/foo/bar/x", true, true),
        (&["/*/*/bar/test.*"], "/foo/bar/test.go", false, false),
        (&["/*/*/bar/test.*"], "/foo/bar/bar", false, true),
        (&["", "*.c"], "/foo/bar/test.go", false, true),
        (&["!**", "*.go"], "/foo/bar/test.go", true, true),
        (&["/foo/*/test.*", "!*.c"], "/foo/bar/test.c", false, false),
        (
            &["/foo/*/*", "!test.*", "*.c"],
            "/foo/bar/test.go",
            false,
            true,
        ),
        (
            &["/foo/*/*", "!test.*", "*.c"],
            "/foo/bar/test.c",
            true,
            true,
        ),
        (
            &["/**/*", "!/foo", "/foo/*", "!/foo/bar"],
            "/foo/other/x",
            true,
            true,
        ),
        (
            &["/**/*", "!/foo", "/foo/*", "!/foo/bar"],
            "/foo/bar/test.go",
            false,
            false,
        ),
        (
            &["/**/*", "!/foo", "/foo/*", "!/foo/bar", "/foo/bar/test*"],
            "/foo/bar/test.go/child",
            true,
            true,
        ),
        (&["/foo/bar/*", "!/foo/bar/[a-m]*"], "/foo", false, true),
        (&["/foo/**/test.c"], "/foo/bar/foo/bar/test.c", true, true),
        (&["/foo/*/test.c"], "/foo/bar/foo/bar/test.c", false, false),
    ];
    for &(patterns, path, m, c) in CASES {
        let l = list(patterns);
        assert_eq!(
            l.matches_with_child(path.as_bytes()),
            (m, c),
            "{patterns:?} {path:?}"
        );
        assert_eq!(l.matches(path.as_bytes()), m, "{patterns:?} {path:?}");
    }
}

#[test]
fn empty_path_and_invalid_patterns() {
    assert!(!list(&["*"]).matches(b""));
    let err = PatternList::new(["ok", "test/[", "a/**/[x"], false).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("test/[") && msg.contains("a/**/[x") && !msg.contains("ok"),
        "{msg}"
    );
    assert!(list(&["", ""]).is_empty());
}

#[test]
fn case_insensitive_lists() {
    let l = PatternList::new(["*.JPG", "/Home/ÄRGER"], true).unwrap();
    assert!(l.matches(b"/x/photo.jpg"));
    assert!(l.matches(b"/x/PHOTO.Jpg"));
    assert!(l.matches("/home/ärger/x".as_bytes()));
    assert!(!PatternList::new(["*.JPG"], false)
        .unwrap()
        .matches(b"/x/a.jpg"));
    // Non-UTF-8 names still match wildcards.
    assert!(l.matches(b"/d/\xff\xfe.JPG"));
}

#[test]
fn non_utf8_paths_and_patterns() {
    let l = PatternList::new([&b"/data/caf\xe9"[..]], false).unwrap();
    assert!(l.matches(b"/data/caf\xe9/x"));
    assert!(!l.matches(b"/data/cafe"));
    assert!(list(&["caf?"]).matches(b"/data/caf\xe9"));
}

#[test]
fn env_expansion_like_go() {
    let lookup = |name: &[u8]| -> Vec<u8> {
        match name {
            b"HOME" => b"/home/u".to_vec(),
            b"$" => b"$".to_vec(),
            b"1" => b"one".to_vec(),
            _ => Vec::new(),
        }
    };
    for (input, want) in [
        ("$HOME/x", "/home/u/x"),
        ("${HOME}/x", "/home/u/x"),
        ("a$$b", "a$b"),
        ("$UNSET/x", "/x"),
        ("x$", "x$"),
        ("$1x", "onex"),
        ("a${}b", "ab"),
        ("a${HOME", "aHOME"),
        ("a$/b", "a$/b"),
        ("plain", "plain"),
    ] {
        let got = expand_env(input.as_bytes(), &lookup);
        assert_eq!(String::from_utf8_lossy(&got), want, "{input:?}");
    }
}

#[test]
fn pattern_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("excludes");
    std::fs::write(
        &path,
        "\u{feff}# comment\n\n  *.tmp  \r\n/var/$$x\n\t# also comment\nlast",
    )
    .unwrap();
    let got = read_pattern_file(&path).unwrap();
    assert_eq!(
        got,
        vec![b"*.tmp".to_vec(), b"/var/$x".to_vec(), b"last".to_vec()]
    );

    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("a\nb\n".encode_utf16().flat_map(|u| u.to_le_bytes()))
        .collect();
    std::fs::write(&path, utf16).unwrap();
    assert_eq!(
        read_pattern_file(&path).unwrap(),
        vec![b"a".to_vec(), b"b".to_vec()]
    );
    assert!(read_pattern_file(&dir.path().join("missing")).is_err());
}

proptest::proptest! {
    /// A literal absolute pattern matches exactly the path itself and
    /// everything below it.
    #[test]
    fn literal_prefix(parts in proptest::collection::vec("[a-z]{1,3}", 1..5), extra in "[a-z]{1,3}") {
        let path = format!("/{}", parts.join("/"));
        let l = list(&[&path]);
        proptest::prop_assert!(l.matches(path.as_bytes()));
        let below = format!("{path}/{extra}");
        proptest::prop_assert!(l.matches(below.as_bytes()));
        let sibling = format!("{path}{extra}");
        proptest::prop_assert!(!l.matches(sibling.as_bytes()));
        // Every parent is a directory worth descending into.
        for i in 1..parts.len() {
            let parent = format!("/{}", parts[..i].join("/"));
            proptest::prop_assert_eq!(l.matches_with_child(parent.as_bytes()), (false, true));
        }
    }

    /// `*` inside a component never matches across a slash, and a
    /// pattern without glob characters matches like plain comparison.
    #[test]
    fn glob_star_and_literals(name in "[a-c/]{0,6}", pat in "[a-c]{0,4}") {
        let star = glob_match(b"*", name.as_bytes()).unwrap();
        proptest::prop_assert_eq!(star, !name.contains('/'));
        let lit = glob_match(pat.as_bytes(), name.as_bytes()).unwrap();
        proptest::prop_assert_eq!(lit, pat == name);
    }
}

/// The star-and-literal fast path agrees with Go's `filepath.Match` port
/// on every pattern and name built from a small alphabet.
#[test]
fn star_literal_fast_path_agrees_with_glob_match() {
    let patterns = [
        "*", "**x", "*x", "x*", "*x*", "a*b", "a*b*a", "*ab*ba*", "ab*", "*ab", "a**b", "*.dat",
        "*42.dat", "f*42*", "*a*a*a*",
    ];
    let names = [
        "",
        "a",
        "b",
        "x",
        "ab",
        "ba",
        "aba",
        "abba",
        "xx",
        "axb",
        "abab",
        "aaa",
        "aa",
        "f42",
        "f0001042.dat",
        "42.dat",
        "x42.dat.y",
        "a/b",
        "ab/ba",
    ];
    for p in patterns {
        let part = Part::new(p.as_bytes());
        assert!(part.star_literals.is_some(), "{p} takes the fast path");
        for n in names {
            let want = glob_match(p.as_bytes(), n.as_bytes()).unwrap();
            assert_eq!(part.matches(n.as_bytes()), want, "{p} against {n}");
        }
    }
    for p in ["a?b", "[ab]*", "a\\*b", "plain"] {
        assert!(
            Part::new(p.as_bytes()).star_literals.is_none(),
            "{p} is no star-literal glob"
        );
    }
}
