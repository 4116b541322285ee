"""jejak's checkpoints, keys and proofs checked by independent Go code.

A small Go program, built here, verifies what jejak writes with the reference
implementations: ``golang.org/x/mod/sumdb/note`` (``note.NewVerifier``,
``note.Open``, ``note.NewSigner``, ``note.Sign``, ``note.GenerateKey``) and
``github.com/transparency-dev/merkle/proof`` (``VerifyInclusion``,
``VerifyConsistency``) with ``rfc6962.DefaultHasher``. It also signs with a
jejak key (Ed25519 is deterministic, so the bytes must equal jejak's) and
generates a key jejak must read. Deliberately altered files must be rejected,
so the test fails if jejak's output is wrong in a way Go notices.

Needs ``go`` and the Go module proxy. The modules are downloaded into the
default module cache, so only the first run pays for them. Skipped when ``go``
is missing, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jejak.lineage.trust import merkle
from jejak.lineage.trust.checkpoint import Checkpoint, sign_checkpoint
from jejak.lineage.trust.note import Signer, open_note, parse_signer, parse_verifier, sign_note
from jejak.lineage.trust.proof import build_proof, dumps_proof

# the first run downloads two Go modules (and their few dependencies)
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

GO_MOD = """module jejak.test/trustcheck

go 1.22

require (
\tgithub.com/transparency-dev/merkle v0.0.2
\tgolang.org/x/mod v0.43.0
)
"""

GO_MAIN = r"""
// trustcheck verifies jejak's trust files with the Go reference code.
//
//	trustcheck inclusion   VKEY_FILE PROOF_JSON
//	trustcheck consistency VKEY_FILE CONSISTENCY_JSON
//	trustcheck sign        SKEY_FILE TEXT_FILE     (prints the signed note)
//	trustcheck keygen      NAME                    (prints skey and vkey lines)
//
// Exit 0 and "ok" when the check holds, exit 1 and the reason otherwise.
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"crypto/rand"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

type checkpoint struct {
	origin string
	size   uint64
	root   []byte
}

func openCheckpoint(msg, vkey string) (checkpoint, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return checkpoint{}, fmt.Errorf("verifier key: %w", err)
	}
	n, err := note.Open([]byte(msg), note.VerifierList(v))
	if err != nil {
		return checkpoint{}, fmt.Errorf("note.Open: %w", err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 {
		return checkpoint{}, errors.New("checkpoint: fewer than three lines")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint size: %w", err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return checkpoint{}, errors.New("checkpoint root hash")
	}
	return checkpoint{lines[0], size, root}, nil
}

func decodeAll(in []string) ([][]byte, error) {
	out := make([][]byte, 0, len(in))
	for _, s := range in {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

type inclusionDoc struct {
	Row        string   `json:"row"`
	LeafIndex  uint64   `json:"leaf_index"`
	TreeSize   uint64   `json:"tree_size"`
	AuditPath  []string `json:"audit_path"`
	Checkpoint string   `json:"checkpoint"`
	Origin     string   `json:"origin"`
}

func checkInclusion(vkey string, data []byte) error {
	var doc inclusionDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return err
	}
	cp, err := openCheckpoint(doc.Checkpoint, vkey)
	if err != nil {
		return err
	}
	if cp.size != doc.TreeSize || cp.origin != doc.Origin {
		return errors.New("tree_size or origin is not the checkpoint's")
	}
	row, err := base64.StdEncoding.DecodeString(doc.Row)
	if err != nil {
		return err
	}
	path, err := decodeAll(doc.AuditPath)
	if err != nil {
		return err
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(row)
	return proof.VerifyInclusion(rfc6962.DefaultHasher, doc.LeafIndex, cp.size, leaf, path, cp.root)
}

type consistencyDoc struct {
	Old   string   `json:"old_checkpoint"`
	New   string   `json:"new_checkpoint"`
	Proof []string `json:"proof"`
}

func checkConsistency(vkey string, data []byte) error {
	var doc consistencyDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return err
	}
	old, err := openCheckpoint(doc.Old, vkey)
	if err != nil {
		return err
	}
	cur, err := openCheckpoint(doc.New, vkey)
	if err != nil {
		return err
	}
	p, err := decodeAll(doc.Proof)
	if err != nil {
		return err
	}
	return proof.VerifyConsistency(rfc6962.DefaultHasher, old.size, cur.size, p, old.root, cur.root)
}

func main() {
	if len(os.Args) < 3 {
		fmt.Println("usage: trustcheck inclusion|consistency|sign|keygen ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "keygen":
		skey, vkey, kerr := note.GenerateKey(rand.Reader, os.Args[2])
		if kerr == nil {
			fmt.Printf("%s\n%s\n", skey, vkey)
			return
		}
		err = kerr
	default:
		if len(os.Args) != 4 {
			fmt.Println("usage: trustcheck MODE KEY_FILE FILE")
			os.Exit(2)
		}
		key, kerr := os.ReadFile(os.Args[2])
		data, derr := os.ReadFile(os.Args[3])
		if err = errors.Join(kerr, derr); err != nil {
			break
		}
		switch os.Args[1] {
		case "inclusion":
			err = checkInclusion(string(key), data)
		case "consistency":
			err = checkConsistency(string(key), data)
		case "sign":
			signer, serr := note.NewSigner(strings.TrimSpace(string(key)))
			if serr != nil {
				err = serr
				break
			}
			msg, serr := note.Sign(&note.Note{Text: string(data)}, signer)
			if serr != nil {
				err = serr
				break
			}
			os.Stdout.Write(msg)
			return
		default:
			err = fmt.Errorf("unknown mode %q", os.Args[1])
		}
	}
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("ok")
}
"""


def _go_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JEJAK_")}
    # -mod=mod lets go.sum be written; GOPATH/GOMODCACHE stay the defaults so the
    # module download is cached between runs; never fetch another toolchain
    env.update(GOFLAGS="-mod=mod", GOTOOLCHAIN="local", GOWORK="off")
    env.setdefault("HOME", str(home))
    return env


@pytest.fixture(scope="module")
def trustcheck(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., subprocess.CompletedProcess[str]]:
    go = shutil.which("go")
    if go is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI is set but 'go' is not on PATH: the Go cross-check cannot run")
        pytest.skip("'go' is not on PATH (install Go to cross-check the trust formats)")
    src = tmp_path_factory.mktemp("trustcheck")
    (src / "go.mod").write_text(GO_MOD)
    (src / "main.go").write_text(GO_MAIN)
    env = _go_env(src)
    started = time.monotonic()
    for step in (["mod", "tidy"], ["build", "-o", "trustcheck", "."]):
        done = subprocess.run(
            [go, *step], cwd=src, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, f"go {' '.join(step)} failed:\n{done.stdout}\n{done.stderr}"
    print(f"trustcheck: go mod tidy + go build took {time.monotonic() - started:.1f}s")
    binary = src / "trustcheck"

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary), *map(str, args)], capture_output=True, text=True, timeout=60
        )

    return run


ROWS = [json.dumps({"event_id": f"ev-{i}", "n": i}).encode() for i in range(37)]
HASHES = [merkle.leaf_hash(r) for r in ROWS]


class Log:
    """A signed log over ``ROWS``: checkpoints at any size, proofs against them."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self.origin = signer.name

    def checkpoint(self, size: int) -> str:
        return sign_checkpoint(
            Checkpoint(self.origin, size, merkle.root(HASHES, size)), self.signer
        )

    def inclusion(self, index: int, size: int) -> dict[str, Any]:
        return build_proof(
            row=ROWS[index],
            leaf_index=index,
            audit_path=merkle.inclusion_proof(index, HASHES, size),
            checkpoint=self.checkpoint(size),
            event_id=f"ev-{index}",
        )

    def consistency(self, old: int, new: int) -> dict[str, Any]:
        return {
            "old_checkpoint": self.checkpoint(old),
            "new_checkpoint": self.checkpoint(new),
            "proof": [
                base64.b64encode(h).decode() for h in merkle.consistency_proof(old, HASHES, new)
            ],
        }


@pytest.fixture(scope="module")
def log() -> Log:
    return Log(Signer.generate("jejak-test.example/p0"))


@pytest.fixture
def files(tmp_path: Path, log: Log) -> Callable[[str, str], Path]:
    (tmp_path / "log.pub").write_text(log.signer.verifier().to_string() + "\n")

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_go_verifies_inclusion_proofs(
    trustcheck: Any, log: Log, files: Any, tmp_path: Path
) -> None:
    pub = tmp_path / "log.pub"
    cases = [(i, 37) for i in (0, 1, 15, 16, 31, 32, 36)] + [(i, 20) for i in (0, 7, 19)]
    cases += [(0, 1), (4, 5), (15, 16)]
    for index, size in cases:
        proof = files(f"incl-{index}-{size}.json", dumps_proof(log.inclusion(index, size)))
        done = trustcheck("inclusion", pub, proof)
        assert done.returncode == 0, (index, size, done.stdout, done.stderr)
        assert done.stdout.strip() == "ok"


def test_go_verifies_consistency_proofs(
    trustcheck: Any, log: Log, files: Any, tmp_path: Path
) -> None:
    pub = tmp_path / "log.pub"
    pairs = [(1, 37), (16, 37), (20, 37), (36, 37), (37, 37), (3, 5), (7, 8), (8, 16), (13, 29)]
    for old, new in pairs:
        doc = files(f"cons-{old}-{new}.json", json.dumps(log.consistency(old, new)))
        done = trustcheck("consistency", pub, doc)
        assert done.returncode == 0, (old, new, done.stdout, done.stderr)


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_go_rejects_altered_files(trustcheck: Any, log: Log, files: Any, tmp_path: Path) -> None:
    pub = tmp_path / "log.pub"
    good = log.inclusion(11, 37)

    altered_row = dict(good, row=base64.b64encode(ROWS[12]).decode())
    altered_path = dict(
        good,
        audit_path=[good["audit_path"][0], _flip(good["audit_path"][1]), *good["audit_path"][2:]],
    )
    forged_size = dict(
        good, checkpoint=good["checkpoint"].replace("\n37\n", "\n38\n", 1), tree_size=38
    )
    other_key = dict(good, checkpoint=Log(Signer.generate(log.origin)).checkpoint(37))
    for name, doc in [
        ("row", altered_row),
        ("path", altered_path),
        ("size", forged_size),
        ("key", other_key),
    ]:
        done = trustcheck("inclusion", pub, files(f"bad-{name}.json", dumps_proof(doc)))
        assert done.returncode == 1, (name, done.stdout)

    cons = log.consistency(13, 29)
    bad_cons = dict(cons, proof=[*cons["proof"][:-1], _flip(cons["proof"][-1])])
    done = trustcheck("consistency", pub, files("bad-cons.json", json.dumps(bad_cons)))
    assert done.returncode == 1, done.stdout
    # a split view: the same key signed a head over a history with one row altered
    forked = list(HASHES)
    forked[5] = merkle.leaf_hash(b"altered")
    fork = sign_checkpoint(Checkpoint(log.origin, 13, merkle.root(forked, 13)), log.signer)
    split = dict(cons, old_checkpoint=fork)
    done = trustcheck("consistency", pub, files("bad-cons2.json", json.dumps(split)))
    assert done.returncode == 1, done.stdout


def test_go_signs_with_a_jejak_key_byte_for_byte(trustcheck: Any, log: Log, files: Any) -> None:
    skey = files("log.key", log.signer.to_string() + "\n")
    for text in ["hello\n", Checkpoint(log.origin, 37, merkle.root(HASHES)).to_body(), "é — ✓\n\n"]:
        done = trustcheck("sign", skey, files("text", text))
        assert done.returncode == 0, done.stdout
        assert done.stdout == sign_note(text, log.signer)


def test_jejak_reads_a_go_key_and_opens_go_notes(trustcheck: Any, files: Any) -> None:
    done = trustcheck("keygen", "go.example/log")
    assert done.returncode == 0, done.stdout
    skey, vkey = done.stdout.splitlines()
    signer, verifier = parse_signer(skey), parse_verifier(vkey)
    assert signer.to_string() == skey and verifier.to_string() == vkey
    assert signer.verifier() == verifier
    signed = trustcheck("sign", files("go.key", skey), files("text2", "from go\n"))
    assert open_note(signed.stdout, verifier).text == "from go\n"


def test_go_verifies_proofs_made_from_a_real_store(
    trustcheck: Any, clickhouse_dsn: str, store_database: str, tmp_path: Path
) -> None:
    """The store's own checkpoints and proofs, end to end, checked by the Go reference code."""
    from dataclasses import dataclass

    from jejak.lineage.store import connect, migrate
    from jejak.lineage.store.chain import load_heads
    from jejak.lineage.store.checkpoints import Checkpointer
    from jejak.lineage.store.proofs import prove_consistency, prove_event
    from jejak.lineage.store.writer import Batch, Origin, write_batch
    from jejak.schemas.models import parse_event

    @dataclass(frozen=True)
    class V:
        decision: str = "allowed"
        basis: str | None = "A.1.1"
        reasons: tuple[str, ...] = ()
        policy_version: str = "2026.1"

    store = connect(clickhouse_dsn, store_database)
    migrate(store)
    signer = Signer.generate(f"jejak-{store_database}")
    checkpointer = Checkpointer(store, signer, signer.name, tmp_path / "checkpoints")
    for first, count in ((0, 7), (7, 12)):
        heads = load_heads(store, "privacy.events", [0])
        batch = Batch()
        for n in range(first, first + count):
            event = parse_event(
                {
                    "event_id": f"go-{n}",
                    "kind": "collection",
                    "occurred_at": f"2026-05-01T08:{n:02d}:00Z",
                    "subject_id": "ps1_" + "g" * 32,
                    "data_categories": ["account.phone"],
                    "source": "user",
                }
            )
            batch.add(heads[0], event, V(), Origin("privacy.events", 0, n))
        write_batch(store, batch)
        checkpointer.sign(heads.values())
    pub = tmp_path / "store.pub"
    pub.write_text(signer.verifier().to_string() + "\n")
    for event_id in ("go-0", "go-6", "go-7", "go-18"):
        proof = tmp_path / f"{event_id}.json"
        proof.write_text(dumps_proof(prove_event(store, event_id)))
        done = trustcheck("inclusion", pub, proof)
        assert done.returncode == 0, (event_id, done.stdout, done.stderr)
    consistency = tmp_path / "consistency.json"
    consistency.write_text(json.dumps(prove_consistency(store, "privacy.events", 0, 7, 19)))
    done = trustcheck("consistency", pub, consistency)
    assert done.returncode == 0, (done.stdout, done.stderr)
    store.close()
