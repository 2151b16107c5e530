//! The [`Backend`] operations of [`SftpBackend`].

use super::{no_such_file, temp_suffix, OpError, OpResult, SftpBackend};
use crate::{is_temp_name, Backend, BackendError, FileInfo, FileType, Result, TempFile};
use futures_core::Stream;
use openssh_sftp_client::error::{Error as SftpError, SftpErrorKind};
use openssh_sftp_client::file::TokioCompatFile;
use openssh_sftp_client::fs::Fs;
use openssh_sftp_client::metadata::{MetaData, Permissions};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::task::JoinSet;

/// The regular files (name, size) and the folders of one folder, and
/// its temporary files.
#[derive(Default)]
struct Listing {
    files: Vec<FileInfo>,
    dirs: Vec<String>,
    temp: Vec<TempFile>,
}

async fn read_dir(mut fs: Fs, dir: String) -> OpResult<Listing> {
    let handle = fs.open_dir(&dir).await?;
    let mut entries = std::pin::pin!(handle.read_dir());
    let mut out = Listing::default();
    while let Some(entry) = std::future::poll_fn(|cx| entries.as_mut().poll_next(cx)).await {
        let entry = entry?;
        let name = entry.filename().to_string_lossy().into_owned();
        if name == "." || name == ".." {
            continue;
        }
        let meta: MetaData = entry.metadata();
        match meta.file_type() {
            Some(t) if t.is_dir() => out.dirs.push(name),
            Some(t) if t.is_file() && is_temp_name(&name) => {
                out.temp.push(TempFile {
                    name: name.clone(),
                    size: meta.len().unwrap_or(0),
                    modified: meta.modified().map(|t| t.as_system_time()),
                });
                out.files.push(FileInfo {
                    name,
                    size: meta.len().unwrap_or(0),
                });
            }
            Some(t) if t.is_file() => out.files.push(FileInfo {
                name,
                size: meta.len().unwrap_or(0),
            }),
            _ => {}
        }
    }
    Ok(out)
}

/// Runs `make(fs, item)` for every item at once on the session.
async fn for_each<T, F, Fut>(fs: &Fs, items: Vec<String>, make: F) -> OpResult<Vec<T>>
where
    T: Send + 'static,
    F: Fn(Fs, String) -> Fut,
    Fut: std::future::Future<Output = OpResult<T>> + Send + 'static,
{
    let mut set = JoinSet::new();
    for item in items {
        set.spawn(make(fs.clone(), item));
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.map_err(|e| OpError::Sftp(SftpError::TaskJoinError(e)))??);
    }
    Ok(out)
}

fn is_unsupported(e: &SftpError) -> bool {
    matches!(e, SftpError::SftpError(SftpErrorKind::OpUnsupported, _))
}

impl Backend for SftpBackend {
    fn location(&self) -> String {
        self.display.clone()
    }

    fn create(&self) -> Result<()> {
        let config = self.path(FileType::Config, "config")?;
        let sftp = self.sftp();
        match self.run(async { Ok(sftp.fs().symlink_metadata(&config).await?) }) {
            Ok(_) => return Err(BackendError::repository_exists(&self.display)),
            Err(e) if Self::is_not_found(&e) => {}
            Err(e) => return Err(self.error(e, FileType::Config, "config", "stat config")),
        }
        let mode = self.modes.dir;
        let mut dirs: Vec<String> = FileType::ALL
            .iter()
            .filter(|t| **t != FileType::Config)
            .map(|t| format!("{}/{}", self.root, t.dir_name()))
            .collect();
        dirs.extend((0..=255u8).map(|i| format!("{}/data/{i:02x}", self.root)));
        let root = self.root.clone();
        let made = self.run(async {
            Self::mkdir_all(sftp.fs(), root, mode).await?;
            let fs = sftp.fs();
            let data_subdirs = dirs.split_off(5);
            for_each(&fs, dirs, move |fs, d| Self::mkdir_all(fs, d, mode)).await?;
            for_each(&fs, data_subdirs, move |fs, d| Self::mkdir_all(fs, d, mode)).await?;
            Ok(())
        });
        made.map_err(|e| self.error(e, FileType::Config, "", "create folders"))
    }

    fn list(&self, file_type: FileType) -> Result<Vec<FileInfo>> {
        if file_type == FileType::Config {
            return match self.stat(FileType::Config, "config") {
                Ok(fi) => Ok(vec![fi]),
                Err(e) if e.is_not_found() => Ok(vec![]),
                Err(e) => Err(e),
            };
        }
        Ok(self.list_folder(file_type)?.files)
    }

    fn read(&self, file_type: FileType, name: &str) -> Result<Vec<u8>> {
        let path = self.path(file_type, name)?;
        let sftp = self.sftp();
        self.run(async { Ok(sftp.fs().read(&path).await?.to_vec()) })
            .map_err(|e| self.error(e, file_type, name, &format!("read {path}")))
    }

    fn read_range(
        &self,
        file_type: FileType,
        name: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>> {
        if length == 0 {
            self.stat(file_type, name)?;
            return Ok(Vec::new());
        }
        let path = self.path(file_type, name)?;
        let sftp = self.sftp();
        let data = self
            .run(async {
                let mut file = sftp.open(&path).await?;
                file.seek(std::io::SeekFrom::Start(offset))
                    .await
                    .map_err(SftpError::from)?;
                let mut out = Vec::with_capacity(length.min(1 << 26) as usize);
                while (out.len() as u64) < length {
                    let want = (length - out.len() as u64).min(u32::MAX as u64) as u32;
                    match file.read(want, bytes::BytesMut::new()).await? {
                        Some(chunk) if !chunk.is_empty() => out.extend_from_slice(&chunk),
                        _ => break,
                    }
                }
                file.close().await?;
                Ok(out)
            })
            .map_err(|e| self.error(e, file_type, name, &format!("read {path}")))?;
        if (data.len() as u64) < length {
            return Err(BackendError::ShortRead {
                file_type,
                name: name.to_string(),
                offset,
                wanted: length,
                got: data.len() as u64,
            });
        }
        Ok(data)
    }

    fn write(&self, file_type: FileType, name: &str, data: &[u8]) -> Result<()> {
        let path = self.path(file_type, name)?;
        let tmp = format!("{path}-restic-temp-{}", temp_suffix());
        let dir = self.dir_of(file_type, name);
        let sftp = self.sftp();
        let modes = self.modes;
        let written = self.run(async {
            let mut options = sftp.options();
            options.write(true).create_new(true);
            let open = || options.open(&tmp);
            let file = match open().await {
                Err(e) if no_such_file(&e) => {
                    Self::mkdir_all(sftp.fs(), dir, modes.dir).await?;
                    open().await?
                }
                other => other?,
            };
            let stored: OpResult<()> = async {
                let mut file = file;
                file.set_permissions(Permissions::from(modes.file)).await?;
                // Keeps many write requests in flight instead of waiting
                // for each answer; flush waits for them all.
                let mut pipelined = Box::pin(TokioCompatFile::new(file));
                pipelined.write_all(data).await.map_err(SftpError::from)?;
                pipelined.flush().await.map_err(SftpError::from)?;
                if sftp.support_fsync() {
                    pipelined.as_mut().as_mut_file().sync_all().await?;
                }
                // The handle is closed when dropped.
                drop(pipelined);
                // posix-rename@openssh.com when the server has it.
                sftp.fs().rename(&tmp, &path).await?;
                Ok(())
            }
            .await;
            if let Err(e) = stored {
                // Try not to leave a partial file behind.
                let _ = sftp.fs().remove_file(&tmp).await;
                return Err(e);
            }
            let readonly = Permissions::from(modes.file & !0o222);
            match sftp.fs().set_permissions(&path, readonly).await {
                Err(e) if !is_unsupported(&e) => Err(e.into()),
                _ => Ok(()),
            }
        });
        written.map_err(|e| self.error(e, file_type, name, &format!("write {path}")))
    }

    fn remove(&self, file_type: FileType, name: &str) -> Result<()> {
        let path = self.path(file_type, name)?;
        let sftp = self.sftp();
        let mode = self.modes.file;
        self.run(async {
            let mut fs = sftp.fs();
            match fs.remove_file(&path).await {
                Err(SftpError::SftpError(SftpErrorKind::PermDenied, _)) => {
                    // Servers that refuse to delete read-only files.
                    fs.set_permissions(&path, Permissions::from(mode)).await?;
                    Ok(fs.remove_file(&path).await?)
                }
                other => Ok(other?),
            }
        })
        .map_err(|e| self.error(e, file_type, name, &format!("remove {path}")))
    }

    fn stat(&self, file_type: FileType, name: &str) -> Result<FileInfo> {
        let path = self.path(file_type, name)?;
        let sftp = self.sftp();
        let meta = self
            .run(async { Ok(sftp.fs().symlink_metadata(&path).await?) })
            .map_err(|e| self.error(e, file_type, name, &format!("stat {path}")))?;
        Ok(FileInfo {
            name: if file_type == FileType::Config {
                "config".into()
            } else {
                name.to_string()
            },
            size: meta.len().unwrap_or(0),
        })
    }

    fn has_atomic_replace(&self) -> bool {
        self.posix_rename
    }

    fn list_temp(&self, file_type: FileType) -> Result<Vec<TempFile>> {
        if file_type == FileType::Config {
            return Ok(Vec::new());
        }
        Ok(self.list_folder(file_type)?.temp)
    }

    fn remove_temp(&self, file_type: FileType, name: &str) -> Result<()> {
        let (sub, file) = crate::temp::split_temp_name(file_type, name)?;
        let path = match sub {
            Some(sub) => format!("{}/data/{sub}/{file}", self.root),
            None => format!("{}/{}/{file}", self.root, file_type.dir_name()),
        };
        let sftp = self.sftp();
        self.run(async { Ok(sftp.fs().remove_file(&path).await?) })
            .map_err(|e| self.error(e, file_type, name, &format!("remove {path}")))
    }
}

impl SftpBackend {
    /// The files and temporary files of a type's folder (with `data/`'s
    /// subfolders; temporary names there as `XX/NAME`). A missing folder
    /// lists as empty.
    fn list_folder(&self, file_type: FileType) -> Result<Listing> {
        let base = format!("{}/{}", self.root, file_type.dir_name());
        let sftp = self.sftp();
        let listed = self.run(async {
            let mut top = read_dir(sftp.fs(), base.clone()).await?;
            if file_type != FileType::Pack {
                return Ok(top);
            }
            let subdirs = std::mem::take(&mut top.dirs);
            let base = &base;
            let fs = sftp.fs();
            let reads = for_each(&fs, subdirs, |fs, d| {
                let dir = format!("{base}/{d}");
                async move { Ok((d, read_dir(fs, dir).await?)) }
            });
            for (d, sub) in reads.await? {
                top.files.extend(sub.files);
                top.temp.extend(sub.temp.into_iter().map(|t| TempFile {
                    name: format!("{d}/{}", t.name),
                    ..t
                }));
            }
            Ok(top)
        });
        match listed {
            Ok(listing) => Ok(listing),
            Err(e) if Self::is_not_found(&e) => Ok(Listing::default()),
            Err(e) => Err(self.error(e, file_type, "", &format!("list {file_type}"))),
        }
    }
}
