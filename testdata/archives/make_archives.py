#!/usr/bin/env python3
"""Crafted model.tar.gz fixtures for `sm-pack verify` (tests/verify_fixtures.rs).

    python3 testdata/archives/make_archives.py            # (re)writes the fixtures
    python3 testdata/archives/make_archives.py --check    # verifies they are up to date
    python3 testdata/archives/make_archives.py --out DIR  # writes them elsewhere

Each archive shows one problem the safe reader or the container simulation
must report (or, for the good ones, none). They are made three ways:

* GNU tar (subprocess; `--sort=name --mtime=@0 --owner=0 --group=0
  --numeric-owner`, gzip via Python with mtime 0) for the archives users
  really make with it;
* Python's `tarfile` (what the SageMaker SDK uses), including pax headers;
* hand-built 512-byte headers for everything no tool writes on purpose
  (bad checksums, empty or NUL names, GNU sparse maps, huge long names, ...).

Everything is deterministic: fixed mtimes, gzip header mtime 0, sorted
members. `index.json` lists every archive with the container it is checked
against and the finding codes it must produce; the Rust test reads it.

The model bytes come from the committed fixtures: testdata/xgboost/1.7.4/
logistic.json (loads in 1.7-1, 3.0-5 and 3.2-0), a 3.2.0 model (vector
base_score), pickles from 1.3.3/1.7.4, and testdata/fasttext/sup_hs.bin.
"""
import argparse
import bz2
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MTIME = 315532800  # 1980-01-01, as sm-pack writes


def read(rel):
    with open(os.path.join(REPO, rel), "rb") as f:
        return f.read()


MODEL = read("testdata/xgboost/1.7.4/logistic.json")
MODEL_OTHER = read("testdata/xgboost/1.7.4/squarederror.json")
MODEL_UBJ_320 = read("testdata/xgboost/3.2.0/logistic.ubj")
PICKLE_P5 = read("testdata/xgboost/1.3.3/logistic.p5.pkl")
SKLEARN = read("testdata/xgboost/1.7.4/logistic.sklearn.pkl")
FASTTEXT = read("testdata/fasttext/sup_hs.bin")
MANIFEST_JSON = b'{"schema": "sm-pack.manifest/v1"}\n'
APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 40


# ---------------------------------------------------------------------------
# Hand-built tar


def octal(value, width):
    return ("%0*o" % (width - 1, value)).encode() + b"\0"


def header(name, size=0, typeflag=b"0", mode=0o644, linkname=b"", fmt="gnu",
           mtime=MTIME, uid=0, gid=0, prefix=b"", sparse=None, realsize=None,
           extended=False, checksum=True):
    """One 512-byte header. `fmt` is gnu, ustar or v7."""
    if isinstance(name, str):
        name = name.encode()
    if isinstance(linkname, str):
        linkname = linkname.encode()
    h = bytearray(512)
    h[0:len(name[:100])] = name[:100]
    h[100:108] = octal(mode, 8)
    h[108:116] = octal(uid, 8)
    h[116:124] = octal(gid, 8)
    h[124:136] = octal(size, 12)
    h[136:148] = octal(mtime, 12)
    h[156:157] = typeflag
    h[157:157 + len(linkname)] = linkname
    if fmt == "gnu":
        h[257:265] = b"ustar  \0"
    elif fmt == "ustar":
        h[257:265] = b"ustar\x0000"
        h[345:345 + len(prefix)] = prefix
    if sparse is not None:
        for i, (off, n) in enumerate(sparse[:4]):
            base = 386 + 24 * i
            h[base:base + 12] = octal(off, 12)
            h[base + 12:base + 24] = octal(n, 12)
        h[482] = 1 if extended else 0
        h[483:495] = octal(realsize, 12)
    h[148:156] = b" " * 8
    if checksum:
        h[148:156] = ("%06o" % sum(h)).encode() + b"\0 "
    return bytes(h)


def pad(data):
    return data + b"\0" * (-len(data) % 512)


def entry(name, data=b"", **kw):
    return header(name, size=len(data), **kw) + pad(data)


def pax(records, name=b"PaxHeaders/x", typeflag=b"x"):
    body = b""
    for key, value in records:
        if isinstance(key, str):
            key = key.encode()
        if isinstance(value, str):
            value = value.encode()
        rest = b" " + key + b"=" + value + b"\n"
        n = len(rest) + 1
        while len(str(n)) + len(rest) != n:
            n += 1
        body += str(n).encode() + rest
    return header(name, size=len(body), typeflag=typeflag, fmt="ustar") + pad(body)


def longname(name):
    data = name.encode() + b"\0"
    return header("././@LongLink", size=len(data), typeflag=b"L") + pad(data)


END = b"\0" * 1024


def gz(data):
    return gzip.compress(data, compresslevel=6, mtime=0)


# ---------------------------------------------------------------------------
# Python tarfile


def tarfile_archive(members, fmt=tarfile.PAX_FORMAT, pax_headers=None):
    """members: (name, bytes | None for a dir, extra dict)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt, pax_headers=pax_headers or {}) as t:
        for name, data, extra in members:
            ti = tarfile.TarInfo(name)
            ti.mtime = MTIME
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            if data is None:
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                t.addfile(ti)
                continue
            ti.mode = 0o644
            for k, v in (extra or {}).items():
                setattr(ti, k, v)
            if ti.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return raw.getvalue()


# ---------------------------------------------------------------------------
# GNU tar


def gnu_tar(files, args_after=None, cwd_entries=None, symlinks=None, hardlinks=None,
            args_before=None):
    """Runs GNU tar in a temp dir holding `files` {relpath: bytes}, `symlinks`
    and `hardlinks` {relpath: target}; returns the tar bytes."""
    with tempfile.TemporaryDirectory() as d:
        for rel, data in files.items():
            p = os.path.join(d, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
            os.utime(p, (MTIME, MTIME))
        for rel, target in (symlinks or {}).items():
            os.symlink(target, os.path.join(d, rel))
        for rel, target in (hardlinks or {}).items():
            os.link(os.path.join(d, target), os.path.join(d, rel))
        cmd = ["tar", "--format=gnu", "--sort=name", "--mtime=@%d" % MTIME, "--owner=0",
               "--group=0", "--numeric-owner", "--mode=go-w,a+r"] + (args_before or [])
        cmd += ["-cf", "-", "-C", d]
        names = sorted(list(files) + list(symlinks or {}) + list(hardlinks or {}))
        cmd += cwd_entries if cwd_entries is not None else names
        if args_after:
            cmd += args_after
        return subprocess.run(cmd, check=True, capture_output=True).stdout


# ---------------------------------------------------------------------------
# The fixtures


def fixtures():
    """Yields (file name, bytes, how it was made, what it shows, expectation)."""
    ok = {"container": None, "exit": 0, "codes": []}

    def expect(codes, container=None, exit=1, absent=()):
        return {"container": container, "exit": exit, "codes": list(codes), "absent": list(absent)}

    # --- good archives -----------------------------------------------------
    yield ("good-gnu-tar.tar.gz", gz(gnu_tar({"xgboost-model": MODEL})), "GNU tar",
           "correct layout: one xgboost-model at the root", ok)
    yield ("good-tarfile.tar.gz",
           gz(tarfile_archive([("xgboost-model", MODEL, None)])), "Python tarfile (PAX format)",
           "correct layout, as the SageMaker SDK's create_tar_file writes it", ok)
    yield ("good-blazingtext.tar.gz", gz(gnu_tar({"model.bin": FASTTEXT})), "GNU tar",
           "correct BlazingText layout: model.bin at the root",
           {"container": "blazingtext", "exit": 0, "codes": []})
    yield ("dot-slash.tar.gz", gz(gnu_tar({"xgboost-model": MODEL}, cwd_entries=["."])),
           "GNU tar (tar -C dir .)", "./ prefixes and a ./ directory entry: fine, noted",
           expect(["member.dot_slash"], exit=0))
    two = gz(gnu_tar({"xgboost-model": MODEL}))
    one = tarfile_archive([("xgboost-model", MODEL, None)])
    yield ("multi-member-gzip.tar.gz", gz(one[:1024]) + gz(one[1024:]), "tarfile + 2 gzip members",
           "concatenated gzip members: tar reads them as one stream (noted)",
           expect(["archive.gzip_members"], exit=0))
    del two

    # --- unsafe or odd members --------------------------------------------------
    yield ("absolute-path.tar.gz", gz(entry("/xgboost-model", MODEL) + END), "hand-built",
           "absolute member name", expect(["member.absolute_path"]))
    yield ("dotdot.tar.gz", gz(entry("xgboost-model", MODEL) + entry("../evil", b"x") + END),
           "hand-built", "'..' in a member name", expect(["member.dotdot"]))
    # The same problems as real tools write them.
    yield ("absolute-path-gnu-tar.tar.gz",
           gz(gnu_tar({"xgboost-model": MODEL}, args_before=["-P", "--transform=s,^,/,"])),
           "GNU tar (-P, names rewritten to start with /)", "absolute member name, as `tar -P` stores it",
           expect(["member.absolute_path"]))
    yield ("dotdot-tarfile.tar.gz",
           gz(tarfile_archive([("xgboost-model", MODEL, None), ("../xgboost-model.bak", MODEL, None)])),
           "Python tarfile", "'..' in a member name", expect(["member.dotdot"]))
    yield ("symlink-gnu-tar.tar.gz",
           gz(gnu_tar({"model.json": MODEL}, symlinks={"xgboost-model": "model.json"})),
           "GNU tar (a symlink on disk)", "xgboost-model stored as a symbolic link to model.json",
           expect(["member.symlink", "container.verdict"]))
    yield ("hardlink-gnu-tar.tar.gz",
           gz(gnu_tar({"xgboost-model": MODEL}, hardlinks={"xgboost-model.bak": "xgboost-model"})),
           "GNU tar (two names for one file on disk)", "a hard link", expect(["member.hardlink"]))
    yield ("fifo-tarfile.tar.gz",
           gz(tarfile_archive([("xgboost-model", MODEL, None), ("pipe", b"", {"type": tarfile.FIFOTYPE})])),
           "Python tarfile", "a FIFO", expect(["member.special"]))
    yield ("fifo-tarfile.tar.gz", None, None, None,
           expect(["member.special", "container.not_a_file"], container="3.2-0",
                  absent=["container.extra_file_loaded"]))
    yield ("block-device-tarfile.tar.gz",
           gz(tarfile_archive([("xgboost-model", MODEL, None),
                               ("sda", b"", {"type": tarfile.BLKTYPE, "devmajor": 8, "devminor": 0})])),
           "Python tarfile", "a block device", expect(["member.special"]))
    yield ("duplicate-tarfile.tar.gz",
           gz(tarfile_archive([("xgboost-model", MODEL_OTHER, None), ("xgboost-model", MODEL, None)])),
           "Python tarfile (the same name added twice)", "the same name twice",
           expect(["member.duplicate"]))
    yield ("long-name-tarfile.tar.gz",
           gz(tarfile_archive([("xgboost-model", MODEL, None), ("n" * 256, b"x", None)])),
           "Python tarfile (pax path record)", "a 256-byte name", expect(["member.name_too_long"]))

    yield ("symlink.tar.gz",
           gz(entry("real-model", MODEL) + header("xgboost-model", typeflag=b"2", linkname="real-model", mode=0o777) + END),
           "hand-built", "a symbolic link", expect(["member.symlink", "container.verdict"]))
    yield ("hardlink.tar.gz",
           gz(entry("xgboost-model", MODEL) + header("xgboost-model-2", typeflag=b"1", linkname="xgboost-model") + END),
           "hand-built", "a hard link", expect(["member.hardlink"]))
    yield ("device.tar.gz",
           gz(entry("xgboost-model", MODEL) + header("dev/null", typeflag=b"3", mode=0o666) + END),
           "hand-built", "a character device", expect(["member.special"]))
    yield ("fifo.tar.gz",
           gz(entry("xgboost-model", MODEL) + header("pipe", typeflag=b"6") + END),
           "hand-built", "a FIFO", expect(["member.special"]))
    yield ("duplicate.tar.gz",
           gz(entry("xgboost-model", MODEL) + entry("xgboost-model", MODEL_OTHER) + END),
           "hand-built", "the same name twice (extraction keeps the last)", expect(["member.duplicate"]))
    yield ("file-and-dir.tar.gz",
           gz(entry("xgboost-model", MODEL) + entry("xgboost-model/x", b"x") + END),
           "hand-built", "a name that is both a file and a folder", expect(["member.file_and_dir"]))
    yield ("empty-name.tar.gz", gz(entry("xgboost-model", MODEL) + entry("", b"x") + END),
           "hand-built", "an empty member name", expect(["member.empty_name"]))
    yield ("nul-in-name.tar.gz",
           gz(entry("xgboost-model", MODEL) + pax([("path", b"bad\0name")]) + entry("placeholder", b"x") + END),
           "hand-built pax", "a NUL byte in a (pax) name", expect(["member.nul_in_name"]))
    yield ("long-component.tar.gz",
           gz(entry("xgboost-model", MODEL) + longname("m" * 300) + entry("././@LongLink-target", b"x") + END),
           "hand-built GNU long name", "a 300-byte name component", expect(["member.name_too_long"]))
    yield ("huge-long-name.tar.gz",
           gz(header("././@LongLink", size=2 << 20, typeflag=b"L") + b"a" * (2 << 20) + entry("xgboost-model", MODEL) + END),
           "hand-built GNU long name", "a 2 MiB GNU long name (beyond the reader's cap)",
           expect(["archive.header_too_large"]))
    yield ("pax-xattr.tar.gz",
           gz(tarfile_archive([("xgboost-model", MODEL, {"pax_headers": {"SCHILY.xattr.com.apple.provenance": "\x01\x02"}})])),
           "Python tarfile (pax)", "SCHILY.xattr pax record (macOS provenance)",
           expect(["member.pax_xattr"], exit=0))
    yield ("libarchive-xattr.tar.gz",
           gz(pax([("LIBARCHIVE.xattr.com.apple.quarantine", "MDA4MTs=")]) + entry("xgboost-model", MODEL) + END),
           "hand-built pax (bsdtar style)", "LIBARCHIVE.xattr pax record", expect(["member.pax_xattr"], exit=0))
    yield ("pax-global.tar.gz",
           gz(pax([("comment", "0123456789abcdef")], name=b"pax_global_header", typeflag=b"g") + entry("xgboost-model", MODEL) + END),
           "hand-built (git archive style)", "a pax global header", expect(["archive.pax_global"], exit=0))
    yield ("appledouble.tar.gz",
           gz(gnu_tar({"xgboost-model": MODEL, "._xgboost-model": APPLEDOUBLE})),
           "GNU tar", "macOS AppleDouble ._ file next to the model",
           expect(["member.appledouble", "container.dotfile_skipped"], exit=0,
                  absent=["container.dotfile_loaded", "container.extra_file_loaded"]))
    yield ("appledouble.tar.gz", None, None, None,
           expect(["member.appledouble", "container.dotfile_loaded", "container.not_a_model"], container="1.2-2"))
    yield ("ds-store.tar.gz", gz(gnu_tar({"xgboost-model": MODEL, ".DS_Store": b"\0\0\0\1Bud1"})),
           "GNU tar", ".DS_Store next to the model", expect(["member.ds_store"], exit=0))
    yield ("macosx.tar.gz",
           gz(gnu_tar({"xgboost-model": MODEL, "__MACOSX/._xgboost-model": APPLEDOUBLE})),
           "GNU tar", "a __MACOSX/ folder (Finder 'Compress')", expect(["member.macosx"], exit=0))
    yield ("wrapping-folder.tar.gz", gz(gnu_tar({"model/xgboost-model": MODEL}, cwd_entries=["model"])),
           "GNU tar (tar -czf model.tar.gz model/)", "the classic model/xgboost-model mistake",
           expect(["archive.wrapping_folder", "container.no_model"]))
    yield ("wrapping-folder.tar.gz", None, None, None,
           expect(["archive.wrapping_folder", "container.directory_picked"], container="0.90-1"))
    yield ("sparse.tar.gz",
           gz(header("xgboost-model", size=512, typeflag=b"S", sparse=[(4096, 512)], realsize=4608) + b"z" * 512 + END),
           "hand-built GNU sparse", "a GNU sparse entry", expect(["member.sparse"]))

    # --- container layout problems ------------------------------------------------
    yield ("extra-file.tar.gz", gz(gnu_tar({"xgboost-model": MODEL, "manifest.json": MANIFEST_JSON})),
           "GNU tar", "a manifest next to the model: loaded as an ensemble member",
           expect(["container.extra_file_loaded", "container.verdict"]))
    yield ("extra-file.tar.gz", None, None, None,
           expect(["container.order_dependent"], container="1.0-1"))
    yield ("two-models.tar.gz", gz(gnu_tar({"xgboost-model": MODEL, "xgboost-model-old": MODEL_OTHER})),
           "GNU tar", "two different models: served as an averaged ensemble",
           expect(["container.ensemble", "container.verdict"]))
    yield ("subfolder.tar.gz", gz(gnu_tar({"xgboost-model": MODEL, "code/inference.py": b"print(1)\n"})),
           "GNU tar", "a code/ subfolder: never loaded (noted)", expect(["container.subfolder_ignored"], exit=0))
    yield ("pickle-p5.tar.gz", gz(gnu_tar({"xgboost-model": PICKLE_P5})), "GNU tar",
           "a protocol-5 pickle (xgboost 1.3.3): Python 3.7 cannot read it",
           expect(["container.pickle_protocol"], container="1.3-1"))
    yield ("sklearn-pickle.tar.gz", gz(gnu_tar({"xgboost-model": SKLEARN})), "GNU tar",
           "a pickled XGBClassifier: algorithm mode cannot serve it",
           expect(["container.pickle_object"], container="1.7-1"))
    yield ("vector-base-score.tar.gz", gz(gnu_tar({"xgboost-model": MODEL_UBJ_320})), "GNU tar",
           "a 3.2.0 UBJSON model in 1.7-1: loads, but base_score is ignored",
           expect(["container.base_score_vector", "container.verdict"], container="1.7-1"))
    yield ("bt-invalid-model-bin.tar.gz", gz(gnu_tar({"model.bin": FASTTEXT[: len(FASTTEXT) // 2]})),
           "GNU tar", "BlazingText model.bin cut in half: not a loadable fastText model",
           expect(["blazingtext.invalid_model", "container.verdict"], container="blazingtext"))
    yield ("bt-extra-files.tar.gz", gz(gnu_tar({"model.bin": FASTTEXT, "labels.txt": b"__label__a\n"})),
           "GNU tar", "model.bin with another file next to it (undocumented behaviour)",
           expect(["blazingtext.extra_files"], container="blazingtext", exit=0))
    yield ("no-model-bin.tar.gz", gz(gnu_tar({"langid.bin": FASTTEXT})), "GNU tar",
           "BlazingText archive whose model is not named model.bin",
           expect(["blazingtext.no_model_bin"], container="blazingtext"))

    # --- compression and stream problems ---------------------------------------------
    plain = gnu_tar({"xgboost-model": MODEL})
    yield ("plain.tar", plain, "GNU tar (no gzip)", "an uncompressed tar", expect(["archive.not_gzip"]))
    yield ("bzip2.tar.bz2", bz2.compress(plain, 9), "GNU tar + bzip2", "bzip2 instead of gzip",
           expect(["archive.not_gzip", "container.no_model"]))
    yield ("double-gzip.tar.gz", gz(gz(plain)), "GNU tar + gzip twice", "gzip inside gzip",
           expect(["archive.double_gzip"]))
    yield ("gzip-not-tar.gz", gz(MODEL), "gzip", "a gzip-compressed model without tar",
           expect(["archive.not_tar", "container.no_model"]))
    body = plain.rstrip(b"\0")
    body = body + b"\0" * (-len(body) % 512)
    yield ("trailing-after-end.tar.gz", gz(body + END + b"hidden data after the end marker" + b"\0" * 480),
           "hand-edited GNU tar", "non-zero data after the end-of-archive blocks",
           expect(["archive.trailing_data"], exit=0))
    yield ("trailing-garbage.tar.gz", gz(plain) + b"garbage!", "GNU tar + bytes appended",
           "garbage after the gzip stream (GNU tar fails on it)", expect(["archive.gzip_trailing"]))
    yield ("trailing-zeros.tar.gz", gz(plain) + b"\0" * 64, "GNU tar + zeros appended",
           "zero bytes after the gzip stream (tar accepts them)", expect(["archive.gzip_trailing"], exit=0))
    full = gz(plain)
    yield ("truncated-gzip.tar.gz", full[: len(full) // 2], "GNU tar, cut in half",
           "the gzip stream ends early", expect(["archive.truncated"]))
    yield ("truncated-tar.tar.gz", gz(plain[: 512 + 1000]), "GNU tar cut inside the member, then gzipped",
           "the tar data ends inside a member", expect(["archive.truncated"]))
    yield ("no-end-marker.tar.gz", gz(body), "GNU tar without its zero blocks",
           "no end-of-archive marker", expect(["archive.end_marker"], exit=0))
    bad = bytearray(entry("xgboost-model", MODEL) + entry("second", b"x") + END)
    bad[512 + len(pad(MODEL)) + 148] ^= 0x01  # corrupt the second header's checksum
    yield ("bad-checksum.tar.gz", gz(bytes(bad)), "hand-built", "a header with a bad checksum",
           expect(["archive.bad_checksum"]))
    yield ("empty.tar.gz", b"", "empty file", "zero bytes", expect(["archive.empty"]))


def build():
    out = {}
    index = []
    for name, data, how, what, expect in fixtures():
        if data is not None:
            out[name] = data
            index.append({"file": name, "made_with": how, "shows": what, "checks": [expect]})
        else:
            next(e for e in index if e["file"] == name)["checks"].append(expect)
    return out, index


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="fail if the committed fixtures differ")
    ap.add_argument("--out", default=HERE, help="folder to write to (default: this one)")
    a = ap.parse_args()
    files, index = build()
    index_text = json.dumps({"schema": 1, "generator": "testdata/archives/make_archives.py",
                             "archives": index}, indent=1) + "\n"
    files["index.json"] = index_text.encode()
    if a.check:
        stale = [n for n, d in files.items()
                 if not os.path.exists(os.path.join(HERE, n)) or read(os.path.join("testdata/archives", n)) != d]
        if stale:
            print("stale fixtures:", ", ".join(stale), file=sys.stderr)
            return 1
        print("fixtures up to date")
        return 0
    os.makedirs(a.out, exist_ok=True)
    for n, d in files.items():
        with open(os.path.join(a.out, n), "wb") as f:
            f.write(d)
    print("wrote %d files to %s" % (len(files), a.out))
    return 0


if __name__ == "__main__":
    if shutil.which("tar") is None:
        sys.exit("GNU tar is needed")
    sys.exit(main())
