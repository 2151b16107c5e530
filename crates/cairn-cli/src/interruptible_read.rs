//! Reading a pipe or terminal without blocking past an interrupt:
//! `backup --stdin` may wait for input indefinitely, and must still stop
//! within a second of SIGINT/SIGTERM.

use std::io::{self, Read};
use std::os::fd::AsRawFd;

/// How often a read waiting for input looks at the interrupt flag.
const POLL_MS: libc::c_int = 100;

/// A reader that waits for input with poll(2) in short slices and fails
/// once [`cairn::interrupt`] asks the command to stop. The inner reader
/// must not buffer (its descriptor is what is polled).
pub struct InterruptibleRead<R> {
    inner: R,
}

impl<R: Read + AsRawFd> InterruptibleRead<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        InterruptibleRead { inner }
    }
}

/// Standard input, unbuffered (a duplicate of descriptor 0), interruptible.
pub fn stdin() -> io::Result<InterruptibleRead<std::fs::File>> {
    use std::os::fd::AsFd;
    let fd = io::stdin().as_fd().try_clone_to_owned()?;
    Ok(InterruptibleRead::new(std::fs::File::from(fd)))
}

impl<R: Read + AsRawFd> Read for InterruptibleRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if cairn::interrupt::is_requested() {
                return Err(io::Error::other("interrupted while reading input"));
            }
            let mut fd = libc::pollfd {
                fd: self.inner.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `fd` is a valid, exclusively borrowed pollfd array of
            // length 1 that outlives the call; poll(2) only writes its
            // `revents`. The descriptor is owned by `self.inner`, open for
            // the whole call.
            let rc = unsafe { libc::poll(&mut fd, 1, POLL_MS) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if rc > 0 {
                // Readable, at its end, or failed: read says which.
                return self.inner.read(buf);
            }
        }
    }
}
