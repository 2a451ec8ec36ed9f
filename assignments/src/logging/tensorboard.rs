//! TensorBoard event files written by hand (TFRecord framing, masked CRC-32C, the `Event`
//! protobuf encoded directly) and the course's `logs.txt` + TensorBoard logger pair.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::config::{format_config_as_json, format_config_as_text};
use super::metrics::ConfigValue;

/// The CRC-32C (Castagnoli) of `data`, masked as TFRecord does:
/// `((crc >> 15) | (crc << 17)) + 0xa282ead8`.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Frames `payload` as one TFRecord: `u64 LE length`, masked CRC of the length bytes,
/// the payload, masked CRC of the payload.
pub(crate) fn tfrecord(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(payload.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&masked_crc32c(payload).to_le_bytes());
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, u64::from(field << 3 | 2));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Encodes `Event { wall_time = 1 (double); step = 2 (int64, omitted when 0, as proto3 does) }`
/// followed by the already encoded oneof field.
fn event(wall_time: f64, step: i64, what: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(1 << 3 | 1);
    out.extend_from_slice(&wall_time.to_le_bytes());
    if step != 0 {
        out.push(2 << 3);
        put_varint(&mut out, step as u64); // negative int64 is ten-byte two's complement
    }
    what(&mut out);
    out
}

/// The encoded `Event` holding `file_version` (field 3), the first record of every event file.
pub(crate) fn file_version_event(wall_time: f64, version: &str) -> Vec<u8> {
    event(wall_time, 0, |out| {
        put_bytes_field(out, 3, version.as_bytes())
    })
}

/// The encoded `Event` holding `summary` (field 5) with one
/// `Summary.Value { tag = 1; simple_value = 2 (float) }`: TensorBoard's old-style scalar.
pub(crate) fn scalar_event(wall_time: f64, step: i64, tag: &str, value: f32) -> Vec<u8> {
    let mut value_msg = Vec::with_capacity(tag.len() + 8);
    put_bytes_field(&mut value_msg, 1, tag.as_bytes());
    value_msg.push(2 << 3 | 5);
    value_msg.extend_from_slice(&value.to_le_bytes());
    let mut summary = Vec::with_capacity(value_msg.len() + 4);
    put_bytes_field(&mut summary, 1, &value_msg);
    event(wall_time, step, |out| put_bytes_field(out, 5, &summary))
}

/// The encoded `Event` of torch's `SummaryWriter.add_text(tag, text, step)`: a summary value
/// tagged `{tag}/text_summary` holding a `DT_STRING` tensor of shape `[1]` with the UTF-8 text,
/// with the metadata of TensorBoard's `text` plugin. Fields in the order protobuf writes them:
/// `Summary.Value { tag = 1; tensor = 8; metadata = 9 }`,
/// `TensorProto { dtype = 1; tensor_shape = 2 { dim = 2 { size = 1 } }; string_val = 8 }`,
/// `SummaryMetadata { plugin_data = 1 { plugin_name = 1 } }`.
pub(crate) fn text_event(wall_time: f64, step: i64, tag: &str, text: &str) -> Vec<u8> {
    const DT_STRING: u64 = 7;
    let mut dim = Vec::with_capacity(2);
    dim.push(1 << 3);
    put_varint(&mut dim, 1);
    let mut shape = Vec::with_capacity(4);
    put_bytes_field(&mut shape, 2, &dim);
    let mut tensor = Vec::with_capacity(text.len() + 16);
    tensor.push(1 << 3);
    put_varint(&mut tensor, DT_STRING);
    put_bytes_field(&mut tensor, 2, &shape);
    put_bytes_field(&mut tensor, 8, text.as_bytes());
    let mut plugin_data = Vec::with_capacity(8);
    put_bytes_field(&mut plugin_data, 1, b"text");
    let mut metadata = Vec::with_capacity(8);
    put_bytes_field(&mut metadata, 1, &plugin_data);
    let mut value_msg = Vec::with_capacity(tensor.len() + tag.len() + 32);
    put_bytes_field(&mut value_msg, 1, format!("{tag}/text_summary").as_bytes());
    put_bytes_field(&mut value_msg, 8, &tensor);
    put_bytes_field(&mut value_msg, 9, &metadata);
    let mut summary = Vec::with_capacity(value_msg.len() + 4);
    put_bytes_field(&mut summary, 1, &value_msg);
    event(wall_time, step, |out| put_bytes_field(out, 5, &summary))
}

fn wall_time_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The host name as Python's `socket.gethostname()` sees it: `/proc/sys/kernel/hostname`, else
/// the `HOSTNAME` environment variable, else `localhost`.
pub(crate) fn hostname() -> String {
    let from_proc = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned());
    from_proc
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Adds the path to an I/O error, so that the binary's one-line message names the file.
fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The process-wide counter that ends event file names, as tensorboard's `_global_uid`.
static EVENT_FILE_UID: AtomicU64 = AtomicU64::new(0);

/// One TensorBoard event file, `events.out.tfevents.{unix_secs:010}.{hostname}.{pid}.{n}`.
#[derive(Debug)]
pub(crate) struct EventWriter {
    file: File,
    path: PathBuf,
}

impl EventWriter {
    /// Creates `dir` (and its parents) and a new event file in it whose first record is
    /// `file_version = "brain.Event:2"`, written and flushed at once.
    pub(crate) fn create(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir).map_err(|e| with_path(dir, e))?;
        let wall_time = wall_time_now();
        let name = format!(
            "events.out.tfevents.{:010}.{}.{}.{}",
            wall_time as u64,
            hostname(),
            std::process::id(),
            EVENT_FILE_UID.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| with_path(&path, e))?;
        let mut writer = EventWriter { file, path };
        writer.write_record(&file_version_event(wall_time, "brain.Event:2"))?;
        Ok(writer)
    }

    /// The path of the event file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one scalar (`tag`, `value` as float32) at `step`, with the current wall time.
    pub(crate) fn add_scalar(&mut self, tag: &str, value: f32, step: i64) -> io::Result<()> {
        self.write_record(&scalar_event(wall_time_now(), step, tag, value))
    }

    /// Appends one text summary (`add_text`: tag `{tag}/text_summary`) at `step`, with the current
    /// wall time.
    pub(crate) fn add_text(&mut self, tag: &str, text: &str, step: i64) -> io::Result<()> {
        self.write_record(&text_event(wall_time_now(), step, tag, text))
    }

    /// Appends one framed record in a single write (the file is unbuffered, so it is on disk
    /// as far as the OS is concerned when this returns).
    fn write_record(&mut self, payload: &[u8]) -> io::Result<()> {
        self.file
            .write_all(&tfrecord(payload))
            .map_err(|e| with_path(&self.path, e))
    }

    /// Flushes the file.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.file.flush().map_err(|e| with_path(&self.path, e))
    }
}

/// The course's logger pair for a log directory (course: `labs/npfl138/loggers/`): `logs.txt` (FileSystemLogger) and
/// TensorBoard event files, one writer per subdirectory (TensorBoardLogger).
///
/// Nothing is created until the first log call. A label `writer:tag` goes to the subdirectory
/// `writer` with tag `tag` (split at the first colon, so `dev:loss` is `dev/` `loss`); a label
/// without a colon goes to `train/`. Writers are created on the first label that names them.
#[derive(Debug)]
pub struct TrainingLogger {
    logdir: PathBuf,
    logs_txt: Option<File>,
    writers: Vec<(String, EventWriter)>,
}

impl TrainingLogger {
    /// A logger for `logdir`; creates nothing yet.
    pub fn new(logdir: PathBuf) -> Self {
        TrainingLogger {
            logdir,
            logs_txt: None,
            writers: Vec::new(),
        }
    }

    /// The log directory.
    pub fn logdir(&self) -> &Path {
        &self.logdir
    }

    /// Checks that the log directory can be created, creating nothing: an empty directory is
    /// made and removed at once in its nearest existing ancestor (or in the log directory itself
    /// when it exists). Errors name that ancestor.
    pub(crate) fn check_creatable(&self) -> io::Result<()> {
        let mut existing = self.logdir.as_path();
        while !existing.exists() {
            existing = match existing.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ if existing != Path::new(".") => Path::new("."),
                _ => break,
            };
        }
        let probe = existing.join(format!(".npfl138-probe-{}", std::process::id()));
        fs::create_dir(&probe).map_err(|e| with_path(existing, e))?;
        fs::remove_dir(&probe).map_err(|e| with_path(&probe, e))
    }

    /// Appends `line` to `logdir/logs.txt` and writes each `name=value` as a TensorBoard scalar
    /// at step `epoch` (see the type's documentation for the writer routing). Everything is
    /// flushed before this returns. Errors name the file.
    pub fn log_epoch(&mut self, line: &str, epoch: usize, logs: &[(&str, f64)]) -> io::Result<()> {
        self.log_line(line)?;
        self.log_scalars(epoch as i64, logs)
    }

    /// Appends `line` and a newline to `logdir/logs.txt` (opened in append mode, created with
    /// the directory on the first call) and flushes: the `Evaluation ...` and `Config ...` lines.
    pub fn log_line(&mut self, line: &str) -> io::Result<()> {
        let path = self.logdir.join("logs.txt");
        if self.logs_txt.is_none() {
            fs::create_dir_all(&self.logdir).map_err(|e| with_path(&self.logdir, e))?;
            let file = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .map_err(|e| with_path(&path, e))?;
            self.logs_txt = Some(file);
        }
        let file = self.logs_txt.as_mut().expect("opened above");
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        file.write_all(&bytes)
            .and_then(|()| file.flush())
            .map_err(|e| with_path(&path, e))
    }

    /// `fit(..., log_config=config)` at `epoch` (course: `labs/npfl138/trainable_module.py`), as the course's loggers do it in their
    /// order: the line `Config epoch=... k=v ...` appended to `logs.txt`, then the text summary
    /// `config` (the JSON of [`format_config_as_json`]) in the `train` writer at step `epoch`.
    pub(crate) fn log_config(
        &mut self,
        config: &[(&str, ConfigValue)],
        epoch: usize,
    ) -> io::Result<()> {
        self.log_line(&format_config_as_text(config, epoch))?;
        self.log_text("config", &format_config_as_json(config), epoch as i64)
    }

    /// `log_text(label, text, step)`: a TensorBoard text summary in the writer the label names
    /// (`writer:tag`, else `train`), flushed.
    pub(crate) fn log_text(&mut self, label: &str, text: &str, step: i64) -> io::Result<()> {
        let (writer, tag) = label.split_once(':').unwrap_or(("train", label));
        let writer = self.writer(writer)?;
        writer.add_text(tag, text, step)?;
        writer.flush()
    }

    /// The file part of `log_graph` (FileSystemLogger): writes `contents` to `graph.txt` in the
    /// log directory (`graph.{epoch}.txt` for a non-zero epoch), creating the directory.
    pub(crate) fn write_graph_txt(&mut self, contents: &str, epoch: usize) -> io::Result<()> {
        fs::create_dir_all(&self.logdir).map_err(|e| with_path(&self.logdir, e))?;
        let name = match epoch {
            0 => "graph.txt".to_owned(),
            epoch => format!("graph.{epoch}.txt"),
        };
        let path = self.logdir.join(name);
        fs::write(&path, contents).map_err(|e| with_path(&path, e))
    }

    /// Writes each `label=value` as a float32 TensorBoard scalar at `step`, then flushes every
    /// writer.
    pub fn log_scalars(&mut self, step: i64, logs: &[(&str, f64)]) -> io::Result<()> {
        for (label, value) in logs {
            let (writer, tag) = label.split_once(':').unwrap_or(("train", label));
            self.writer(writer)?.add_scalar(tag, *value as f32, step)?;
        }
        for (_, writer) in &mut self.writers {
            writer.flush()?;
        }
        Ok(())
    }

    /// The paths of the event files created so far, in creation order, with their writer names.
    pub fn event_files(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.writers
            .iter()
            .map(|(name, w)| (name.as_str(), w.path()))
    }

    fn writer(&mut self, name: &str) -> io::Result<&mut EventWriter> {
        let index = match self.writers.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                let writer = EventWriter::create(&self.logdir.join(name))?;
                self.writers.push((name.to_owned(), writer));
                self.writers.len() - 1
            }
        };
        Ok(&mut self.writers[index].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_answer() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        // ((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xa282ead8 mod 2^32, computed in Python
        assert_eq!(masked_crc32c(b"123456789"), 0xC78A_B0E5);
    }

    #[test]
    fn tfrecord_framing() {
        let r = tfrecord(b"abc");
        assert_eq!(r.len(), 8 + 4 + 3 + 4);
        assert_eq!(&r[..8], &3u64.to_le_bytes());
        assert_eq!(&r[8..12], &masked_crc32c(&3u64.to_le_bytes()).to_le_bytes());
        assert_eq!(&r[12..15], b"abc");
        assert_eq!(&r[15..], &masked_crc32c(b"abc").to_le_bytes());
    }

    #[test]
    fn event_encoding_by_hand() {
        // Event { wall_time: 1.5, file_version: "brain.Event:2" }: step 0 is omitted.
        let mut expected = vec![0x09];
        expected.extend_from_slice(&1.5f64.to_le_bytes());
        expected.extend_from_slice(&[0x1a, 13]);
        expected.extend_from_slice(b"brain.Event:2");
        assert_eq!(file_version_event(1.5, "brain.Event:2"), expected);

        // Event { wall_time: 2.0, step: 300, summary { value { tag: "loss", simple_value: 0.25 } } }
        let mut expected = vec![0x09];
        expected.extend_from_slice(&2.0f64.to_le_bytes());
        expected.extend_from_slice(&[0x10, 0xac, 0x02]); // varint 300
        expected.extend_from_slice(&[0x2a, 13, 0x0a, 11, 0x0a, 4]);
        expected.extend_from_slice(b"loss");
        expected.push(0x15);
        expected.extend_from_slice(&0.25f32.to_le_bytes());
        assert_eq!(scalar_event(2.0, 300, "loss", 0.25), expected);
    }

    #[test]
    fn text_event_by_hand() {
        // Event { wall_time: 1.0, summary { value { tag: "config/text_summary",
        //   tensor { dtype: DT_STRING, tensor_shape { dim { size: 1 } }, string_val: "{}" },
        //   metadata { plugin_data { plugin_name: "text" } } } } }: step 0 is omitted.
        let mut expected = vec![0x09];
        expected.extend_from_slice(&1.0f64.to_le_bytes());
        let tag = b"config/text_summary";
        let tensor = [0x08, 7, 0x12, 4, 0x12, 2, 0x08, 1, 0x42, 2, b'{', b'}'];
        let metadata = [0x0a, 6, 0x0a, 4, b't', b'e', b'x', b't'];
        let value_len = 2 + tag.len() + 2 + tensor.len() + 2 + metadata.len();
        expected.extend_from_slice(&[0x2a, (value_len + 2) as u8, 0x0a, value_len as u8]);
        expected.extend_from_slice(&[0x0a, tag.len() as u8]);
        expected.extend_from_slice(tag);
        expected.extend_from_slice(&[0x42, tensor.len() as u8]);
        expected.extend_from_slice(&tensor);
        expected.extend_from_slice(&[0x4a, metadata.len() as u8]);
        expected.extend_from_slice(&metadata);
        assert_eq!(text_event(1.0, 0, "config", "{}"), expected);
    }

    #[test]
    fn varints() {
        let enc = |v: u64| {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            out
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(127), [127]);
        assert_eq!(enc(128), [0x80, 1]);
        assert_eq!(enc(u64::MAX).len(), 10);
    }

    #[test]
    fn hostname_is_nonempty() {
        assert!(!hostname().is_empty());
        assert!(!hostname().contains('\n'));
    }
}
