//! Transfer faults between Cairn and a REST server: `cairn serve` behind
//! a proxy that drops connections and cuts short or damages answers
//! (deterministically, every few answers). Backup, restore and
//! `check --read-data` through it succeed thanks to retries and re-reads,
//! never calling a transient fault damage; restic then checks the
//! served files directly.
//!
//! Needs `restic` (or `$CAIRN_TEST_RESTIC`) installed.

#[path = "remote_support/mod.rs"]
mod remote_support;

use remote_support::fault_proxy::FaultProxy;
use remote_support::process::CairnServer;
use remote_support::{cairn, make_source, ok, restic_bin, restored_path, run, same_tree};
use std::sync::atomic::Ordering;

#[test]
fn backup_restore_and_check_survive_a_faulty_network() {
    let server = CairnServer::start();
    let direct = format!("rest:http://127.0.0.1:{}/repo/", server.port);
    let work = tempfile::tempdir().unwrap();
    let src = make_source(work.path());
    ok(run(&cairn(), &direct, &["init"], &[]), "cairn init");

    // Every 5th answer damaged: drops, cuts and flipped bytes all occur.
    let proxy = FaultProxy::start(server.port, 5);
    let faulty = format!("rest:http://127.0.0.1:{}/repo/", proxy.port());
    let src_arg = src.to_str().unwrap();
    ok(
        run(&cairn(), &faulty, &["backup", src_arg], &[]),
        "cairn backup",
    );
    let target = tempfile::tempdir().unwrap();
    let t = target.path().to_str().unwrap();
    ok(
        run(
            &cairn(),
            &faulty,
            &["restore", "latest", "--target", t],
            &[],
        ),
        "cairn restore",
    );
    same_tree(&src, &restored_path(target.path(), &src));
    let check = ok(
        run(&cairn(), &faulty, &["check", "--read-data"], &[]),
        "cairn check --read-data",
    );
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(!said.contains("damaged in all"), "{said}");

    let c = proxy.counts();
    let (drops, cuts, flips) = (
        c.drops.load(Ordering::Relaxed),
        c.truncations.load(Ordering::Relaxed),
        c.corruptions.load(Ordering::Relaxed),
    );
    assert!(drops > 0 && cuts > 0 && flips > 0, "{c:?}");
    drop(proxy);

    let served = server.dir().join("repo");
    ok(
        run(
            &restic_bin(),
            served.to_str().unwrap(),
            &["check", "--read-data"],
            &[],
        ),
        "restic check --read-data",
    );
}
