//! An OpenSSH server of its own for SFTP tests: `/usr/sbin/sshd` on a free
//! 127.0.0.1 port with a fresh host key, a fresh user key and its own
//! config in a temporary folder, for the user running the tests (root or
//! not). Killed on drop. Shared by the backend and the CLI tests.
//!
//! Needs `openssh-server` and `openssh-client` (scripts/install-deps.sh).

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian puts the server; sshd wants to be started by full path.
pub const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd, killed on drop.
pub struct Sshd {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Holds keys and config; repositories may go under `dir()/`.
    pub dir: tempfile::TempDir,
    /// The login name of the user running the tests.
    pub user: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .expect("ssh-keygen must be installed (apt-get install openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
}

fn user_name() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

impl Sshd {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing (apt-get install openssh-server)"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("user_key"));
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
        // As root sshd insists on its privilege separation folder.
        let uid = Command::new("id").arg("-u").output().unwrap().stdout;
        if String::from_utf8_lossy(&uid).trim() == "0" {
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile none\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
             Subsystem sftp internal-sftp\nLogLevel ERROR\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut sshd = Sshd {
            child,
            port,
            dir,
            user: user_name(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = sshd.child.try_wait() {
                panic!("sshd exited at start ({status}); run it by hand with -d to see why");
            }
            assert!(Instant::now() < deadline, "sshd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        sshd
    }

    /// A new key the server does not know.
    pub fn stranger_key(&self) -> PathBuf {
        let path = self.dir.path().join("stranger_key");
        if !path.exists() {
            keygen(&path);
        }
        path
    }

    /// The user's private key.
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("user_key")
    }

    /// The ssh command line for `-o sftp.command=...`, logging in with the
    /// test key, on `port` (the server's unless told otherwise).
    pub fn command_on(&self, port: u16, key: &Path) -> String {
        format!(
            "ssh -i {} -p {port} -F /dev/null -o StrictHostKeyChecking=no \
             -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR \
             {}@127.0.0.1 -s sftp",
            key.display(),
            self.user
        )
    }

    /// The ssh command line for this server with the test key.
    pub fn command(&self) -> String {
        self.command_on(self.port, &self.key())
    }

    /// The `-o` option that makes restic and Cairn use [`Sshd::command`].
    pub fn option(&self) -> String {
        format!("sftp.command={}", self.command())
    }

    /// A repository string for `path` (absolute) on this server.
    pub fn repo(&self, path: &Path) -> String {
        format!("sftp:{}@127.0.0.1:{}", self.user, path.display())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
