//! `sm-pack serve` end to end: the real binary on 127.0.0.1 (port 0), real
//! archives packed by sm-pack from fixtures the real libraries wrote, and the
//! real libraries' saved predictions as the expected answers, in each
//! container's exact response format. Every server is stopped by its PID.

mod common;

use common::{bin, repo};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Harness

struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    /// Starts `sm-pack serve ARCHIVE ARGS --port 0` and reads the port from
    /// the first line of stdout.
    fn start(dir: &Path, archive: &Path, args: &[&str]) -> Server {
        let log = dir.join(format!(
            "serve-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut child = bin()
            .arg("serve")
            .arg(archive)
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start sm-pack serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on http://127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "no listening line (got {line:?}); stderr:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        Server { child, port, log }
    }

    fn post(&self, content_type: Option<&str>, accept: Option<&str>, body: &[u8]) -> Reply {
        let mut h = Vec::new();
        if let Some(c) = content_type {
            h.push(("Content-Type", c));
        }
        if let Some(a) = accept {
            h.push(("Accept", a));
        }
        http(self.port, "POST", "/invocations", &h, body)
    }

    fn get(&self, path: &str) -> Reply {
        http(self.port, "GET", path, &[], b"")
    }

    /// SIGTERM, then the exit status (waits for the process to end).
    fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: signalling the child we started, by its PID.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "sm-pack serve ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Kills by PID (Child::kill); a no-op once the process has ended.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// A minimal HTTP/1.1 client (one request per connection).
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut all = req.into_bytes();
    all.extend_from_slice(body);
    // The server may answer (413) before reading everything.
    let _ = s.write_all(&all);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = raw[split + 4..].to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

fn xgb_dir() -> PathBuf {
    repo().join("testdata/xgboost")
}

/// Packs a model file with sm-pack (`--container TAG --no-convert`: the file
/// as given, after sm-pack checked that TAG loads it).
fn pack(dir: &Path, model: &Path, tag: Option<&str>) -> PathBuf {
    let out = dir.join(format!(
        "{}-{}.tar.gz",
        model.file_name().unwrap().to_string_lossy(),
        tag.unwrap_or("bt")
    ));
    let mut c = bin();
    match tag {
        Some(t) => c
            .args(["-q", "xgboost"])
            .arg(model)
            .args(["--container", t, "--no-convert"]),
        None => c.args(["-q", "fasttext"]).arg(model),
    };
    let o = c.arg("-o").arg(&out).arg("--force").output().unwrap();
    assert!(
        o.status.success(),
        "packing {} failed: {}",
        model.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// A gzip'd tar holding `files` (name, bytes) at the root, in this order.
fn tar_gz(path: &Path, files: &[(&str, &[u8])]) {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *bytes).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&tar).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

/// Rows of a fixture CSV (`%.9g` float32 values, empty = NaN) as f32.
fn read_rows(path: &Path) -> Vec<Vec<f32>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split(',')
                .map(|f| {
                    if f.is_empty() {
                        f32::NAN
                    } else {
                        f.parse().unwrap()
                    }
                })
                .collect()
        })
        .collect()
}

/// Python's `repr` of a float32 widened to float64.
fn py(v: f32) -> String {
    sm_pack::xgboost::predict::python_float_repr(f64::from(v))
}

fn py_list(row: &[f32]) -> String {
    format!(
        "[{}]",
        row.iter().map(|v| py(*v)).collect::<Vec<_>>().join(", ")
    )
}

/// The fixture's index entry.
fn entry(file: &str) -> Value {
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(xgb_dir().join("index.json")).unwrap())
            .unwrap();
    index["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == file)
        .unwrap_or_else(|| panic!("{file} not in index.json"))
        .clone()
}

fn input_of(e: &Value) -> Vec<u8> {
    std::fs::read(xgb_dir().join(e["input"].as_str().unwrap())).unwrap()
}

fn preds_of(e: &Value) -> Vec<Vec<f32>> {
    read_rows(&xgb_dir().join(e["pred"].as_str().unwrap()))
}

/// The container's plain text/csv body for `preds`.
fn csv_body(tag: &str, preds: &[Vec<f32>]) -> String {
    let joined = matches!(tag, "0.90-1" | "0.90-2" | "1.0-1" | "1.2-1");
    if joined {
        preds
            .iter()
            .map(|r| if r.len() == 1 { py(r[0]) } else { py_list(r) })
            .collect::<Vec<_>>()
            .join(",")
    } else {
        preds
            .iter()
            .map(|r| r.iter().map(|v| py(*v)).collect::<Vec<_>>().join(",") + "\n")
            .collect()
    }
}

/// `encode_predictions_as_json`.
fn json_body(preds: &[Vec<f32>]) -> String {
    let items: Vec<String> = preds
        .iter()
        .map(|r| {
            format!(
                "{{\"score\": {}}}",
                if r.len() == 1 { py(r[0]) } else { py_list(r) }
            )
        })
        .collect();
    format!("{{\"predictions\": [{}]}}", items.join(", "))
}

/// The fixture input as libsvm rows (present values only), indices from `base`.
fn libsvm_body(csv: &[u8], base: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(csv);
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        out.push('0');
        for (i, f) in line.split(',').enumerate() {
            if !f.is_empty() {
                out.push_str(&format!(" {}:{f}", i + base));
            }
        }
        out.push('\n');
    }
    out.into_bytes()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

// ---------------------------------------------------------------------------
// XGBoost: the real library's predictions, in each tag's format

/// (fixture, tag whose pinned xgboost wrote it or loads it identically).
const SAME_VERSION: &[(&str, &str)] = &[
    ("0.90/logistic.noext", "0.90-2"),
    ("0.90/softprob.bin", "0.90-1"),
    ("1.0.0/softprob.json", "1.0-1"),
    ("1.2.0/logistic.bin", "1.2-1"),
    ("1.2.0/softmax.json", "1.2-2"),
    ("1.3.3/softmax.json", "1.3-1"),
    ("1.5.2/squarederror.json", "1.5-1"),
    ("1.7.4/logistic.ubj", "1.7-1"),
    ("1.7.4/logistic.p4.pkl", "1.7-1"),
    ("3.0.5/softprob.ubj", "3.0-5"),
    ("3.2.0/logistic.ubj", "3.2-0"),
];

#[test]
fn xgboost_csv_and_json_responses_are_the_real_librarys_predictions() {
    let dir = tmp();
    for (file, tag) in SAME_VERSION {
        let e = entry(file);
        let archive = pack(dir.path(), &xgb_dir().join(file), Some(tag));
        let server = Server::start(dir.path(), &archive, &["--container", tag]);
        let input = input_of(&e);
        let preds = preds_of(&e);

        let r = server.post(Some("text/csv"), None, &input);
        assert_eq!(r.status, 200, "{file} in {tag}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
        assert_eq!(r.text(), csv_body(tag, &preds), "{file} in {tag}");

        // 0.90-x ignore Accept; 1.0-1/1.2-1 read it only for selectable
        // output; 1.2-2+ encode application/json.
        let r = server.post(Some("text/csv"), Some("application/json"), &input);
        assert_eq!(r.status, 200, "{file} in {tag}");
        if matches!(*tag, "0.90-1" | "0.90-2" | "1.0-1" | "1.2-1") {
            assert_eq!(r.text(), csv_body(tag, &preds), "{file} in {tag}");
        } else {
            assert_eq!(r.header("content-type"), Some("application/json"));
            assert_eq!(r.text(), json_body(&preds), "{file} in {tag}");
        }

        // No Content-Type means libsvm; 3.2-0 shifts 1-based indices.
        let base = usize::from(*tag == "3.2-0");
        let r = server.post(None, None, &libsvm_body(&input, base));
        assert_eq!(r.status, 200, "{file} in {tag}: {}", r.text());
        assert_eq!(r.text(), csv_body(tag, &preds), "{file} in {tag} (libsvm)");
        let r = server.post(Some("text/x-libsvm"), None, &libsvm_body(&input, base));
        assert_eq!(
            r.text(),
            csv_body(tag, &preds),
            "{file} in {tag} (x-libsvm)"
        );
        drop(server);
    }
}

/// A request or response body the real SageMaker SDK wrote
/// (testdata/serve/recordio/generate.py).
fn recordio(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("testdata/serve/recordio").join(name)).unwrap()
}

/// A RecordIO body as its records, each the sorted list of its top-level
/// protobuf fields (tag and bytes): equal lists are the same messages with
/// map entries in any order.
fn framed_entries(body: &[u8]) -> Vec<Vec<(u64, Vec<u8>)>> {
    fn varint(b: &[u8], p: &mut usize) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = b[*p];
            *p += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        v
    }
    let mut records = Vec::new();
    let mut p = 0;
    while p < body.len() {
        assert_eq!(
            body[p..p + 4],
            0xced7_230a_u32.to_le_bytes(),
            "magic at {p}"
        );
        let len = u32::from_le_bytes(body[p + 4..p + 8].try_into().unwrap()) as usize;
        let data = &body[p + 8..p + 8 + len];
        let mut fields = Vec::new();
        let mut q = 0;
        while q < data.len() {
            let key = varint(data, &mut q);
            assert_eq!(key & 7, 2, "length-delimited fields only");
            let n = varint(data, &mut q) as usize;
            fields.push((key >> 3, data[q..q + n].to_vec()));
            q += n;
        }
        fields.sort();
        records.push(fields);
        let end = p + 8 + len;
        assert!(
            body[end..end.next_multiple_of(4)].iter().all(|&b| b == 0),
            "padding"
        );
        p = end.next_multiple_of(4);
    }
    records
}

/// `application/x-recordio-protobuf` requests as the SageMaker SDK writes
/// them (dense float32, dense float64 with labels, sparse) give every tag
/// the real library's predictions on the same rows.
#[test]
fn xgboost_recordio_protobuf_requests_are_the_real_librarys_predictions() {
    let dir = tmp();
    let bodies = [
        ("recordio-protobuf", "dense5.dense-f32.rec"),
        (
            "application/x-recordio-protobuf",
            "dense5.dense-f64-labels.rec",
        ),
        ("Application/X-RecordIO-Protobuf", "dense5.sparse-f32.rec"),
    ]
    .map(|(ct, name)| (ct, name, recordio(name)));
    for (file, tag) in SAME_VERSION {
        let e = entry(file);
        assert_eq!(
            e["input"], "inputs/dense5.csv",
            "{file}: the bodies hold dense5's rows"
        );
        let archive = pack(dir.path(), &xgb_dir().join(file), Some(tag));
        let server = Server::start(dir.path(), &archive, &["--container", tag]);
        let preds = preds_of(&e);
        for (ct, name, body) in &bodies {
            let r = server.post(Some(ct), None, body);
            assert_eq!(r.status, 200, "{file} in {tag}, {name}: {}", r.text());
            assert_eq!(r.text(), csv_body(tag, &preds), "{file} in {tag}, {name}");
        }
        drop(server);
    }
    // A row without any value (the SDK writes the shape alone) predicts
    // like a CSV row of empty fields.
    let e = entry("1.7.4/logistic.json");
    let archive = pack(
        dir.path(),
        &xgb_dir().join("1.7.4/logistic.json"),
        Some("1.7-1"),
    );
    let server = Server::start(dir.path(), &archive, &["--container", "1.7-1"]);
    let input = String::from_utf8(input_of(&e)).unwrap();
    let lines: Vec<&str> = input.lines().take(3).collect();
    let csv = format!("{}\n,,,,\n{}", lines[0], lines[2]);
    let want = server.post(Some("text/csv"), None, csv.as_bytes());
    assert_eq!(want.status, 200, "{}", want.text());
    let r = server.post(
        Some("application/x-recordio-protobuf"),
        None,
        &recordio("emptyrow.sparse-f32.rec"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), want.text());
    assert_eq!(r.text().lines().count(), 3);
}

/// Selectable output as `application/x-recordio-protobuf`: the records the
/// container writes (each carries every earlier one too), checked against
/// the SageMaker SDK's own `Record` class and RecordIO writer; and the
/// request-side refusals.
#[test]
fn xgboost_recordio_protobuf_responses_and_refusals() {
    let dir = tmp();
    let archive = pack(
        dir.path(),
        &xgb_dir().join("1.7.4/logistic.json"),
        Some("1.7-1"),
    );
    let rec = "application/x-recordio-protobuf";
    let server = Server::start(
        dir.path(),
        &archive,
        &[
            "--container",
            "1.7-1",
            "--env",
            "SAGEMAKER_INFERENCE_OUTPUT=predicted_label,probability",
        ],
    );
    let r = server.post(
        Some(rec),
        Some(rec),
        &recordio("dense5-first20.dense-f32.rec"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some(rec));
    // The same records, lengths and padding; within a record the map
    // entries may come in another order (protobuf leaves map order to the
    // implementation, and each image pins its own).
    let want = recordio("logistic-1.7.4.selectable.rec");
    let (ours, theirs) = (framed_entries(&r.body), framed_entries(&want));
    assert_eq!(ours.len(), 20);
    assert_eq!(
        ours, theirs,
        "the recordio response differs from the container's"
    );
    assert_eq!(r.body.len(), want.len());
    drop(server);

    // Wider than the model: XGBoost 1.2+ refuses the DMatrix (400); +inf is
    // refused while reading by 1.5+ (415); a CSV body sent as recordio is
    // named for what it is (415).
    let server = Server::start(dir.path(), &archive, &["--container", "1.7-1"]);
    let r = server.post(Some(rec), None, &recordio("dense5-6cols.dense-f32.rec"));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("(5 vs. 6)"), "{}", r.text());
    let r = server.post(Some(rec), None, &recordio("inf.dense-f32.rec"));
    assert_eq!(r.status, 415, "{}", r.text());
    assert!(
        r.text().starts_with("Loading recordio-protobuf data failed with Exception, please ensure data is in recordio-protobuf format: <class 'xgboost.core.XGBoostError'> Input data contains `inf`"),
        "{}",
        r.text()
    );
    let r = server.post(Some(rec), None, b"1,2,3,4,5\n6,7,8,9,10\n");
    assert_eq!(r.status, 415, "{}", r.text());
    assert!(
        r.text()
            .contains("does not start with the RecordIO magic 0xced7230a"),
        "{}",
        r.text()
    );
    let mut cut = recordio("dense5.dense-f32.rec");
    cut.truncate(100);
    let r = server.post(Some(rec), None, &cut);
    assert_eq!(r.status, 415, "{}", r.text());
    assert!(
        r.text().contains("record 3 at byte 88 declares"),
        "{}",
        r.text()
    );
    drop(server);
}

/// Fixtures served by another tag than their producer's: the container's
/// predictions recorded by the oracle (tests/oracle/run_matrix.py) under the
/// tag's pinned xgboost — including a misprediction the container makes.
#[test]
fn xgboost_cross_version_cells_match_the_container_oracle() {
    let matrix: Value = serde_json::from_str(
        &std::fs::read_to_string(xgb_dir().join("container-matrix.json")).unwrap(),
    )
    .unwrap();
    let dir = tmp();
    for (file, pack_tag, tag, xgb) in [
        // base_score "[5E-1]"-style vector read by 1.7.4 as 0.5: mispredicts.
        ("3.2.0/logistic.ubj", "3.2-0", "1.7-1", "1.7.4"),
        ("1.0.0/softprob.json", "1.0-1", "3.2-0", "3.2.0"),
        ("0.90/logistic.noext", "0.90-2", "3.0-5", "3.0.5"),
        ("1.2.0/logistic.bin", "1.2-1", "1.5-1", "1.5.2"),
    ] {
        let cell = &matrix["results"][file][xgb];
        assert!(
            matches!(cell["outcome"].as_str(), Some("loads" | "mispredicts")),
            "{file} {xgb}: {cell}"
        );
        let digest = &cell["pred"];
        let e = entry(file);
        let archive = pack(dir.path(), &xgb_dir().join(file), Some(pack_tag));
        let server = Server::start(dir.path(), &archive, &["--container", tag]);
        let r = server.post(Some("text/csv"), Some("text/csv"), &input_of(&e));
        assert_eq!(r.status, 200, "{file} in {tag}: {}", r.text());
        let rows: Vec<Vec<f64>> = r
            .text()
            .lines()
            .map(|l| l.split(',').map(|f| f.parse().unwrap()).collect())
            .collect();
        let shape = digest["shape"].as_array().unwrap();
        assert_eq!(
            rows.len() as u64,
            shape[0].as_u64().unwrap(),
            "{file} in {tag}"
        );
        assert_eq!(
            rows[0].len() as u64,
            shape[1].as_u64().unwrap(),
            "{file} in {tag}"
        );
        let row0: Vec<f64> = digest["row0"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(rows[0], row0, "{file} in {tag}: first row");
        let sum: f64 = rows.iter().flatten().sum();
        let want = digest["sum"].as_f64().unwrap();
        assert!(
            (sum - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{file} in {tag}: sum {sum} vs {want}"
        );
    }
}

#[test]
fn xgboost_selectable_output_batch_and_execution_parameters() {
    let dir = tmp();
    // binary:logistic on 1.7-1.
    let e = entry("1.7.4/logistic.json");
    let archive = pack(
        dir.path(),
        &xgb_dir().join("1.7.4/logistic.json"),
        Some("1.7-1"),
    );
    let input = input_of(&e);
    let p: Vec<f32> = preds_of(&e).into_iter().map(|r| r[0]).collect();
    let server = Server::start(
        dir.path(),
        &archive,
        &[
            "--container",
            "1.7-1",
            "--env",
            "SAGEMAKER_INFERENCE_OUTPUT=predicted_label, probability,probabilities,predicted_score",
        ],
    );
    let label = |v: f32| i32::from(v > 0.5);
    let pair = |v: f32| {
        let x = f64::from(v);
        format!(
            "[{}, {}]",
            sm_pack::xgboost::predict::python_float_repr(1.0 - x),
            py(v)
        )
    };
    let r = server.post(Some("text/csv"), Some("application/json"), &input);
    assert_eq!(r.status, 200, "{}", r.text());
    let items: Vec<String> = p
        .iter()
        .map(|&v| {
            format!(
                "{{\"predicted_label\": {}, \"probability\": {}, \"probabilities\": {}, \"predicted_score\": NaN}}",
                label(v),
                py(v),
                pair(v)
            )
        })
        .collect();
    assert_eq!(
        r.text(),
        format!("{{\"predictions\": [{}]}}", items.join(", "))
    );
    let r = server.post(Some("text/csv"), Some("application/jsonlines"), &input);
    assert_eq!(r.header("content-type"), Some("application/jsonlines"));
    assert_eq!(
        r.text(),
        items.iter().map(|i| format!("{i}\n")).collect::<String>()
    );
    let r = server.post(Some("text/csv"), None, &input);
    let lines: Vec<String> = p
        .iter()
        .map(|&v| format!("{},{},\"{}\",nan", label(v), py(v), pair(v)))
        .collect();
    assert_eq!(r.text(), lines.join("\n"));
    let r = server.post(Some("text/csv"), Some("application/xml"), &input);
    assert_eq!(r.status, 406);
    let ep = server.get("/execution-parameters");
    assert_eq!(ep.status, 200);
    let v = ep.json();
    assert_eq!(v["BatchStrategy"], "MULTI_RECORD");
    assert_eq!(v["MaxPayloadInMB"], 6);
    assert!(v["MaxConcurrentTransforms"].as_u64().unwrap() >= 1);
    drop(server);

    // multi:softprob: argmax label, the winning probability, all of them.
    let e = entry("1.7.4/softprob.json");
    let archive = pack(
        dir.path(),
        &xgb_dir().join("1.7.4/softprob.json"),
        Some("1.7-1"),
    );
    let server = Server::start(
        dir.path(),
        &archive,
        &[
            "--container",
            "1.7-1",
            "--env",
            "SAGEMAKER_INFERENCE_OUTPUT=labels,predicted_label,probability,probabilities",
            "--env",
            "SAGEMAKER_BATCH=true",
        ],
    );
    let r = server.post(Some("text/csv"), Some("text/csv"), &input_of(&e));
    let want: String = preds_of(&e)
        .iter()
        .map(|row| {
            let mut best = 0;
            for (i, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = i;
                }
            }
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            format!("\"[0, 1, 2]\",{best},{},\"{}\"\n", py(max), py_list(row))
        })
        .collect::<Vec<_>>()
        .join("");
    // CSV rows joined by "\n", plus one more "\n" in batch mode.
    assert_eq!(r.text(), want);
    drop(server);

    // SAGEMAKER_BATCH without selectable output: one str(row) per line.
    let server = Server::start(
        dir.path(),
        &archive,
        &["--container", "1.7-1", "--env", "SAGEMAKER_BATCH=true"],
    );
    let r = server.post(Some("text/csv"), Some("application/json"), &input_of(&e));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let want: String = preds_of(&e).iter().map(|r| py_list(r) + "\n").collect();
    assert_eq!(r.text(), want);
}

#[test]
fn xgboost_ensembles_average_or_vote_like_the_container() {
    let dir = tmp();
    // Two logistic models at the root: their float32 mean.
    let (a, b) = ("1.7.4/logistic.json", "1.7.4/dart.json");
    let archive = dir.path().join("ensemble.tar.gz");
    let fa = std::fs::read(xgb_dir().join(a)).unwrap();
    let fb = std::fs::read(xgb_dir().join(b)).unwrap();
    tar_gz(&archive, &[("model-a", &fa), ("model-b", &fb)]);
    let (ea, eb) = (entry(a), entry(b));
    let mean: Vec<Vec<f32>> = preds_of(&ea)
        .iter()
        .zip(preds_of(&eb))
        .map(|(x, y)| vec![(x[0] + y[0]) / 2.0])
        .collect();
    let server = Server::start(dir.path(), &archive, &["--container", "1.7-1"]);
    let r = server.post(Some("text/csv"), None, &input_of(&ea));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), csv_body("1.7-1", &mean));
    drop(server);
    // The ensemble off: one of two different models, by listing order.
    let o = bin()
        .args(["serve"])
        .arg(&archive)
        .args(["--port", "0", "--env", "SAGEMAKER_INFERENCE_ENSEMBLE=false"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Three multi:softmax models: majority vote, smallest class on a tie.
    let files = [
        "1.0.0/softmax.json",
        "1.2.0/softmax.json",
        "1.5.2/softmax.json",
    ];
    let bytes: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(xgb_dir().join(f)).unwrap())
        .collect();
    let archive = dir.path().join("vote.tar.gz");
    tar_gz(
        &archive,
        &[("m1", &bytes[0]), ("m2", &bytes[1]), ("m3", &bytes[2])],
    );
    let preds: Vec<Vec<Vec<f32>>> = files.iter().map(|f| preds_of(&entry(f))).collect();
    let vote: Vec<Vec<f32>> = (0..preds[0].len())
        .map(|i| {
            let mut v: Vec<f32> = preds.iter().map(|p| p[i][0]).collect();
            v.sort_by(f32::total_cmp);
            let mut best = (v[0], 0);
            for x in &v {
                let n = v.iter().filter(|y| *y == x).count();
                if n > best.1 {
                    best = (*x, n);
                }
            }
            vec![best.0]
        })
        .collect();
    let input = input_of(&entry(files[0]));
    let server = Server::start(dir.path(), &archive, &["--container", "1.7-1"]);
    let r = server.post(Some("text/csv"), None, &input);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), csv_body("1.7-1", &vote));
    drop(server);
    // scipy 1.15 (3.0-5, 3.2-0): stats.mode(...).mode[0] is a scalar and
    // every voting-ensemble request fails with 500.
    let server = Server::start(dir.path(), &archive, &["--container", "3.0-5"]);
    let r = server.post(Some("text/csv"), None, &input);
    assert_eq!(r.status, 500);
}

#[test]
fn xgboost_bad_requests_get_the_containers_status_codes() {
    let dir = tmp();
    let e = entry("1.7.4/logistic.ubj");
    let archive = pack(
        dir.path(),
        &xgb_dir().join("1.7.4/logistic.ubj"),
        Some("1.7-1"),
    );
    let server = Server::start(
        dir.path(),
        &archive,
        &["--container", "1.7-1", "--env", "MAX_CONTENT_LENGTH=4096"],
    );
    let csv = |b: &[u8]| server.post(Some("text/csv"), None, b);
    // Unsupported content types and unparseable bodies: 415.
    assert_eq!(
        server.post(Some("application/json"), None, b"{}").status,
        415
    );
    assert_eq!(
        server
            .post(Some("text/csv; label_size=2"), None, b"1,2")
            .status,
        415
    );
    assert_eq!(csv(b"a,b,c,d,e").status, 415);
    assert_eq!(csv(b"1,2,3,4,5\n1,2,3").status, 415);
    assert_eq!(csv(b"1,2,inf,4,5").status, 415);
    assert_eq!(csv(b"1,2,\xff,4,5").status, 415);
    assert_eq!(server.post(Some("text/libsvm"), None, b"1 2 3").status, 415);
    // More features than the model: 400; fewer are missing values.
    let r = csv(b"1,2,3,4,5,6");
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("Unable to evaluate payload provided"));
    assert_eq!(csv(b"1,2,3").status, 200);
    // Other delimiters are sniffed as the container does.
    assert_eq!(csv(b"1 2 3 4 5").text(), csv(b"1,2,3,4,5").text());
    // Unsupported Accept: 406 (after predicting).
    assert_eq!(
        server
            .post(Some("text/csv"), Some("text/html"), b"1,2,3,4,5")
            .status,
        406
    );
    assert_eq!(
        server
            .post(
                Some("text/csv"),
                Some("application/x-recordio-protobuf"),
                b"1,2,3,4,5"
            )
            .status,
        500
    );
    // Empty body: 204; over MAX_CONTENT_LENGTH: 413.
    let r = csv(b"");
    assert_eq!((r.status, r.body.len()), (204, 0));
    let big = input_of(&e);
    assert!(big.len() > 4096);
    assert_eq!(csv(&big).status, 413);
    // Routes: wrong method 405, unknown path 404.
    assert_eq!(server.get("/invocations").status, 405);
    assert_eq!(server.get("/nope").status, 404);
    assert_eq!(server.get("/ping").status, 200);
    drop(server);

    // A pickled Booster: the container's own feature-count check.
    let archive = pack(
        dir.path(),
        &xgb_dir().join("1.7.4/logistic.p4.pkl"),
        Some("1.7-1"),
    );
    let server = Server::start(dir.path(), &archive, &["--container", "1.7-1"]);
    assert_eq!(server.post(Some("text/csv"), None, b"1,2,3,4").status, 200);
    let r = server.post(Some("text/csv"), None, b"1,2,3");
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("Feature size of csv inference data 3 is not consistent with feature size of trained model 5"),
        "{}",
        r.text()
    );
    // RecordIO-protobuf follows csv's rule, in its own words.
    let r = server.post(
        Some("application/x-recordio-protobuf"),
        None,
        &recordio("dense5-3cols.dense-f32.rec"),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("Feature size of recordio-protobuf inference data 3 is not consistent with feature size of trained model 5."),
        "{}",
        r.text()
    );
    drop(server);

    // 0.90/1.0 ignore columns beyond the model's features.
    let archive = pack(
        dir.path(),
        &xgb_dir().join("0.90/logistic.noext"),
        Some("0.90-2"),
    );
    let server = Server::start(dir.path(), &archive, &["--container", "0.90-2"]);
    let r5 = server.post(Some("text/csv"), Some("text/html"), b"1,2,3,4,5");
    assert_eq!(r5.status, 200);
    assert_eq!(
        server.post(Some("text/csv"), None, b"1,2,3,4,5,6,7").text(),
        r5.text()
    );
}

#[test]
fn archives_the_container_cannot_load_are_refused() {
    let dir = tmp();
    // JSON from 1.7.4 in 1.0-1 (xgboost 1.0.0 cannot read it).
    let archive = pack(
        dir.path(),
        &xgb_dir().join("1.7.4/logistic.json"),
        Some("1.7-1"),
    );
    let o = bin()
        .args(["serve"])
        .arg(&archive)
        .args(["--container", "1.0-1", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty(), "no listening line");
    assert!(String::from_utf8_lossy(&o.stderr).contains("refused"));
    // A manifest at the root is loaded as an ensemble member and fails.
    let model = std::fs::read(xgb_dir().join("1.7.4/logistic.json")).unwrap();
    let archive = dir.path().join("extra.tar.gz");
    tar_gz(
        &archive,
        &[("xgboost-model", &model), ("manifest.json", b"{}")],
    );
    let o = bin()
        .args(["--json", "serve"])
        .arg(&archive)
        .args(["--container", "1.7-1", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["command"], "serve");
    assert_eq!(report["exit_code"], 1);
    assert_eq!(report["error"]["validation_failure"], true);
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("manifest.json"), "{report}");
}

// ---------------------------------------------------------------------------
// BlazingText

fn ft_dir() -> PathBuf {
    repo().join("testdata/fasttext")
}

fn expect(name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(ft_dir().join(format!("{name}.expect.json"))).unwrap(),
    )
    .unwrap()
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn blazingtext_classifiers_answer_with_fasttexts_predictions() {
    let dir = tmp();
    for name in ["sup_softmax", "sup_hs", "sup_ngrams", "sup_ova"] {
        let exp = expect(name);
        let archive = pack(dir.path(), &ft_dir().join(format!("{name}.bin")), None);
        let server = Server::start(dir.path(), &archive, &["--blazingtext"]);
        let preds = exp["predictions"].as_array().unwrap();
        let lines: Vec<&str> = preds.iter().map(|p| p["text"].as_str().unwrap()).collect();
        // JSON with k = 3, and the default k = 1.
        for k in [Some(3), None] {
            let mut req = serde_json::json!({ "instances": lines });
            if let Some(k) = k {
                req["configuration"] = serde_json::json!({ "k": k });
            }
            let r = server.post(
                Some("application/json"),
                Some("application/json"),
                req.to_string().as_bytes(),
            );
            assert_eq!(r.status, 200, "{name}: {}", r.text());
            assert_eq!(r.header("content-type"), Some("application/json"));
            let got = r.json();
            let got = got.as_array().unwrap();
            assert_eq!(got.len(), preds.len());
            for (g, p) in got.iter().zip(preds) {
                let top = &p["top3"];
                let n = k.unwrap_or(1) as usize;
                let want_labels: Vec<&Value> =
                    top["labels"].as_array().unwrap().iter().take(n).collect();
                let got_labels: Vec<&Value> = g["label"].as_array().unwrap().iter().collect();
                assert_eq!(got_labels, want_labels, "{name}: {}", p["text"]);
                let want_probs: Vec<f32> = f32s(&top["probs"]).into_iter().take(n).collect();
                assert_eq!(f32s(&g["prob"]), want_probs, "{name}: {}", p["text"]);
            }
        }
        // Batch transform: application/jsonlines, one object per line.
        let body: String = lines
            .iter()
            .map(|l| serde_json::json!({"source": l, "k": 2}).to_string() + "\n")
            .collect();
        let r = server.post(
            Some("application/jsonlines"),
            Some("application/jsonlines"),
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/jsonlines"));
        let text = r.text();
        let got: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(got.len(), preds.len());
        for (g, p) in got.iter().zip(preds) {
            assert!(text.starts_with("{\"prob\":"));
            let want: Vec<f32> = f32s(&p["top3"]["probs"]).into_iter().take(2).collect();
            assert_eq!(f32s(&g["prob"]), want);
        }
        // Bad requests.
        assert_eq!(server.post(Some("text/csv"), None, b"a b c").status, 415);
        assert_eq!(
            server
                .post(Some("application/json"), None, b"{\"instances\": 3}")
                .status,
            400
        );
        assert_eq!(
            server
                .post(Some("application/json"), None, b"not json")
                .status,
            400
        );
        assert_eq!(server.get("/execution-parameters").status, 404);
        assert_eq!(server.get("/ping").status, 200);
    }
}

#[test]
fn blazingtext_word2vec_answers_with_fasttexts_word_vectors() {
    let dir = tmp();
    for name in ["sg", "cbow_nosub"] {
        let exp = expect(name);
        let archive = pack(dir.path(), &ft_dir().join(format!("{name}.bin")), None);
        let server = Server::start(dir.path(), &archive, &["--blazingtext"]);
        let wv = exp["word_vectors"].as_array().unwrap();
        let words: Vec<&str> = wv.iter().map(|w| w["word"].as_str().unwrap()).collect();
        let req = serde_json::json!({ "instances": words });
        let r = server.post(Some("application/json"), None, req.to_string().as_bytes());
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        let got = r.json();
        for (g, w) in got.as_array().unwrap().iter().zip(wv) {
            assert_eq!(g["word"], w["word"]);
            assert_eq!(
                f32s(&g["vector"]),
                f32s(&w["vector"]),
                "{name}: {}",
                w["word"]
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Lifecycle

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tmp();
    let archive = pack(
        dir.path(),
        &xgb_dir().join("1.7.4/logistic.ubj"),
        Some("1.7-1"),
    );
    let server = Server::start(dir.path(), &archive, &["--container", "1.7-1"]);
    assert_eq!(server.get("/ping").status, 200);
    assert_eq!(
        server.post(Some("text/csv"), None, b"1,2,3,4,5").status,
        200
    );
    let log = server.log.clone();
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "{status:?}");
    let text = std::fs::read_to_string(log).unwrap();
    // The access log: one JSON object per request.
    let entries: Vec<Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 2, "{text}");
    assert_eq!(entries[0]["method"], "GET");
    assert_eq!(entries[0]["path"], "/ping");
    assert_eq!(entries[1]["status"], 200);
    assert!(entries[1]["bytes"].as_u64().unwrap() > 0);
    assert!(entries[1]["latency_ms"].as_f64().is_some());
    assert!(text.trim_end().ends_with("stopped"), "{text}");
}
