//! The tar/gzip reader of `verify` and `inspect` and the container
//! simulation behind `verify`:
//!
//! 1. `read_archive_with` over the bytes with small caps (so a fuzzer
//!    reaches every limit), capturing every file and validating every
//!    member with the fastText push validator as it streams past;
//! 2. the bytes as a file: `verify_archive` for an XGBoost tag (the newest
//!    or one picked from the input) and for BlazingText, plus
//!    `inspect_archive`, each rendered as the CLI would.
//!
//! Checks beyond "no panic": captures respect the caps, the member list
//! respects `max_members`, kept names respect `MAX_NAME_KEPT`, and the
//! reader reports the input's real size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sm_pack::archive::reader::{ArchiveMember, CapturePolicy, MemberVisitor, read_archive_with};
use sm_pack::fasttext::{Options, Validator};
use sm_pack::verify::{Sidecar, Target, VerifyOptions, inspect_archive, verify_archive};
use sm_pack_fuzz::{Choices, scratch, small_read_options};

struct FtVisitor {
    current: Option<Validator>,
    chunks: u64,
}

impl MemberVisitor for FtVisitor {
    fn begin(&mut self, m: &ArchiveMember) -> bool {
        self.current = Some(Validator::with_len(&Options::default(), m.size));
        true
    }
    fn data(&mut self, _m: &ArchiveMember, chunk: &[u8]) {
        assert!(chunk.len() <= sm_pack::archive::reader::CHUNK_SIZE);
        self.chunks += 1;
        if let Some(v) = &mut self.current {
            v.feed(chunk);
        }
    }
    fn end(&mut self, _m: &ArchiveMember, _complete: bool) {
        if let Some(v) = self.current.take() {
            let _ = v.finish();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    sm_pack_fuzz::budget(data.len(), || {
        // One pass capturing every file and validating every member with the
        // fastText push validator as it streams past.
        let mut v = FtVisitor {
            current: None,
            chunks: 0,
        };
        let opts = small_read_options(CapturePolicy::All);
        let l = read_archive_with(data, &opts, &mut v).expect("reading from memory cannot fail");
        assert_eq!(l.size, data.len() as u64, "archive size");
        assert!(l.members.len() <= opts.max_members, "member cap");
        assert!(
            l.captured_bytes() <= opts.capture_total_limit,
            "total capture cap"
        );
        for m in &l.members {
            if let Some((bytes, _)) = m.captured() {
                assert!(bytes.len() as u64 <= opts.capture_limit, "capture cap");
            }
            assert!(
                m.name.len() <= sm_pack::archive::reader::MAX_NAME_KEPT + 64,
                "kept name of {} bytes",
                m.name.len()
            );
            let _ = sm_pack::verify::describe_member(m);
        }
        let _ = serde_json::to_string(&l);
        let _ = sm_pack::verify::root_entries(&l);

        // verify and inspect read a file.
        let path = scratch().join("model.tar.gz");
        std::fs::write(&path, data).expect("write scratch archive");
        let mut ch = Choices::from(data);
        let table = sm_pack::container::ContainerTable::builtin().expect("container table");
        let tags: Vec<&str> = table.containers().iter().map(|c| c.tag.as_str()).collect();
        let older = tags[ch.below(tags.len() as u64) as usize];
        // The newest tag or an older one (every tag's verdict is computed
        // either way), and BlazingText.
        let tag = (ch.below(3) != 0).then(|| older.to_string());
        for target in [Target::Xgboost(tag), Target::Blazingtext] {
            let opts = VerifyOptions {
                target,
                manifest: Sidecar::Skip,
                sums: Sidecar::Skip,
                read: small_read_options(CapturePolicy::RootFiles),
                ..VerifyOptions::default()
            };
            match verify_archive(&path, &opts) {
                Ok(r) => {
                    let _ = r.human_lines();
                    let _ = serde_json::to_string(&r);
                    let _ = r.exit_code();
                }
                Err(e) => panic!("verify of a readable file failed: {e}"),
            }
        }
        if let Ok(l) = inspect_archive(&path) {
            let _ = l.human_lines();
            let _ = l.human_summary();
        }
    })
});
