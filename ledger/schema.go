package ledger

import (
	"encoding/binary"
	"fmt"

	"github.com/auditledger/auditledger/proofs"
)

// The Pebble key schema. docs/design.md explains it; this comment is the
// reference. Integers are big-endian so that byte order is numeric order.
//
//	G l <log id>                      log record (JSON: number, origin, settings)
//	G n                               the last log number handed out (uint32)
//	G f                               the store's format (1 byte: mainFormat)
//	L <log#:4> E <index:8> h          a hash run: the hash records of entries index-n+1 … index, each
//	                                  leaf hash ‖ chain hash ‖ received_at (unix ns, 8) (hashrun.go)
//	L <log#:4> E <index:8> p          the leaf: the entry's canonical JSON (retention may delete it)
//	L <log#:4> E <index:8> t <L:1>    the full hash tile (L, N) whose last leaf is index
//	L <log#:4> D                      the retention mark: index ‖ cutoff (unix ns) (retention.go)
//	L <log#:4> I <sha256(idempotency key)>  the first answer of an idempotent append (JSON)
//	L <log#:4> R <ref:8> <index:8>    entry index annotates entry ref (empty value)
//
// Checkpoints (L <log#:4> S <size:8>) and witness cosignatures (L <log#:4> W …)
// have the same shape of key but live in the meta store (meta.go).
//
// Index-major: everything one append writes for entry i (its payload, the
// tiles it completes, and the hash run it ends) sits under "L n E i", so one
// commit's keys form one ascending run after every earlier key of the log.
// Pebble then flushes files that do not overlap older ones and moves them down
// without rewriting (MEASURED.md: ~3× the rate of a prefix-per-kind layout).
// Nothing in the E range is ever overwritten. The log's head (size, chain
// head, last received_at) is the last record of the last E…h run; partial
// tiles are rebuilt from the records and the full tiles below them at open,
// and held in memory after. Keys written apart from the entries would break
// that run: checkpoints and cosignatures live in the meta store (meta.go), and
// the leaf hash → index lookup, random by nature, in the index store
// (hashindex.go). Idempotency records and annotation refs still do break it,
// in the commits that write them (decision 0008).
const (
	prefixGlobal = 'G'
	prefixLog    = 'L'

	globalLog     = 'l'
	globalLogNum  = 'n'
	globalFormat  = 'f'
	logEntries    = 'E'
	logRefs       = 'R'
	logSigned     = 'S'
	kindHashes    = 'h'
	kindPayload   = 'p'
	kindTile      = 't'
	hashRecordLen = 2*proofs.HashSize + 8
	hashIndexLen  = 8
)

func logRecordKey(id string) []byte {
	return append([]byte{prefixGlobal, globalLog}, id...)
}

func logNumKey() []byte { return []byte{prefixGlobal, globalLogNum} }

// mainFormat is the main store's format: 2 since hash records are stored
// in runs (decision 0011). A store without the key was written before it,
// with a record per entry: runs of one, which format 2 reads as they are.
const mainFormat = 2

func formatKey() []byte { return []byte{prefixGlobal, globalFormat} }

func logPrefix(num uint32) []byte {
	k := make([]byte, 5, 32)
	k[0] = prefixLog
	binary.BigEndian.PutUint32(k[1:], num)
	return k
}

// entryKey appends the key of one record of entry index.
func entryKey(dst []byte, num uint32, index uint64, kind byte) []byte {
	dst = append(dst, prefixLog, 0, 0, 0, 0, logEntries, 0, 0, 0, 0, 0, 0, 0, 0, kind)
	n := len(dst)
	binary.BigEndian.PutUint32(dst[n-14:], num)
	binary.BigEndian.PutUint64(dst[n-9:], index)
	return dst
}

// tileKey is the key of the full tile (level, n): it is stored with the entry
// that completes it, the last leaf it covers.
func tileKey(num uint32, level uint, n uint64) []byte {
	last := (n+1)<<((level+1)*proofs.TileHeight) - 1
	k := entryKey(make([]byte, 0, 16), num, last, kindTile)
	return append(k, byte(level))
}

func entriesStart(num uint32) []byte {
	return append(logPrefix(num), logEntries)
}

func entriesEnd(num uint32) []byte {
	return append(logPrefix(num), logEntries+1)
}

// parseEntryKey splits a key of the E range.
func parseEntryKey(k []byte) (index uint64, kind byte, ok bool) {
	if len(k) < 15 || k[0] != prefixLog || k[5] != logEntries {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(k[6:14]), k[14], true
}

func checkpointKey(num uint32, size uint64) []byte {
	k := append(logPrefix(num), logSigned, 0, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint64(k[6:], size)
	return k
}

// hashRecord is one entry's record in an E…h run (hashrun.go).
type hashRecord struct {
	leafHash   proofs.Hash
	chainHash  proofs.Hash
	receivedAt int64
}

func (r *hashRecord) appendTo(dst []byte) []byte {
	dst = append(dst, r.leafHash[:]...)
	dst = append(dst, r.chainHash[:]...)
	return binary.BigEndian.AppendUint64(dst, uint64(r.receivedAt))
}

func parseHashRecord(v []byte) (hashRecord, error) {
	var r hashRecord
	if len(v) != hashRecordLen {
		return r, fmt.Errorf("hash record has %d bytes, want %d", len(v), hashRecordLen)
	}
	copy(r.leafHash[:], v)
	copy(r.chainHash[:], v[proofs.HashSize:])
	r.receivedAt = int64(binary.BigEndian.Uint64(v[2*proofs.HashSize:]))
	return r, nil
}

func refKey(dst []byte, num uint32, ref, index uint64) []byte {
	dst = append(dst, logPrefix(num)...)
	dst = append(dst, logRefs)
	dst = binary.BigEndian.AppendUint64(dst, ref)
	return binary.BigEndian.AppendUint64(dst, index)
}
