package witness

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/auditledger/auditledger/proofs"
)

// maxRequest bounds an add-checkpoint request body.
const maxRequest = 64 << 10

// ServerConfig configures a Server.
type ServerConfig struct {
	// Log verifies the log's signature; its name is the log's origin. Required.
	Log note.Verifier
	// Signer cosigns accepted checkpoints: a timestamped cosignature v1
	// signer (NewCosigner). Required.
	Signer note.Signer
	// State holds the latest checkpoint accepted, shared with the monitor. Required.
	State *State
	// Alarm, when set, is called when a request proves the log forked: a
	// checkpoint signed by the log that is not consistent with the state.
	Alarm func(*Alarm)
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
}

// Server is a C2SP tlog-witness for one log: its handler serves POST
// /add-checkpoint, cosigning each checkpoint it can verify as an append-only
// extension of the last one it cosigned. It is an http.Handler.
type Server struct {
	cfg ServerConfig
	mux *http.ServeMux
}

// NewServer checks cfg and returns a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Log == nil || cfg.Signer == nil || cfg.State == nil {
		return nil, errors.New("witness: server needs the log's verifier, a signer and a state")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.mux.HandleFunc("POST /add-checkpoint", s.addCheckpoint)
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// addCheckpoint follows C2SP tlog-witness: 400 for a malformed request or an
// old size beyond the checkpoint, 404 for another origin, 403 without a
// valid log signature, 409 (with our size) when old is not the size we last
// cosigned, 422 when the proof fails or the root differs at the same size,
// 200 with our cosignature line otherwise.
func (s *Server) addCheckpoint(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		http.Error(w, "request too large", http.StatusBadRequest)
		return
	}
	old, proof, msg, err := ParseAddCheckpoint(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	origin, _, _ := strings.Cut(string(msg), "\n")
	if origin != s.cfg.Log.Name() {
		http.Error(w, "unknown log", http.StatusNotFound)
		return
	}
	n, err := note.Open(msg, note.VerifierList(s.cfg.Log))
	if err != nil {
		http.Error(w, "no valid signature by the log", http.StatusForbidden)
		return
	}
	c, err := proofs.ParseCheckpoint([]byte(n.Text))
	if err != nil || c.Origin != origin {
		http.Error(w, "malformed checkpoint", http.StatusBadRequest)
		return
	}
	// Keep the log's signature only.
	signed, err := note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs})
	if err != nil {
		http.Error(w, "malformed checkpoint", http.StatusBadRequest)
		return
	}
	if old > c.Size {
		http.Error(w, "old size is beyond the checkpoint", http.StatusBadRequest)
		return
	}
	type refusal struct {
		status int
		msg    string
		size   uint64
	}
	var no *refusal
	var alarm *Alarm
	err = s.cfg.State.Update(func(cur *Verified) (*Verified, error) {
		var curSize uint64
		if cur != nil {
			curSize = cur.Size
		}
		if old != curSize {
			no = &refusal{status: http.StatusConflict, size: curSize}
			return nil, nil
		}
		next := &Verified{Checkpoint: c, Note: signed}
		switch {
		case cur == nil || cur.Size == 0:
			if len(proof) != 0 {
				no = &refusal{status: http.StatusUnprocessableEntity, msg: "the proof must be empty from size 0"}
				return nil, nil
			}
			if c.Size == 0 && c.Root != proofs.EmptyRoot {
				no = &refusal{status: http.StatusUnprocessableEntity, msg: "a checkpoint of size 0 must have the empty root"}
				return nil, nil
			}
		case c.Size == cur.Size:
			if c.Root != cur.Root || c.Chain != cur.Chain {
				no = &refusal{status: http.StatusUnprocessableEntity, msg: "the root differs from the checkpoint of the same size cosigned before"}
				alarm = &Alarm{Kind: KindFork, Old: string(cur.Note), New: string(signed),
					Detail: fmt.Sprintf("a checkpoint of size %d signed by the log has another root or chain hash than the one cosigned before", c.Size)}
				return nil, nil
			}
		default:
			if proofs.VerifyConsistency(cur.Size, c.Size, proof, cur.Root, c.Root) != nil {
				no = &refusal{status: http.StatusUnprocessableEntity, msg: "the consistency proof does not verify"}
				alarm = &Alarm{Kind: KindFork, Old: string(cur.Note), New: string(signed),
					Detail: fmt.Sprintf("a checkpoint of size %d signed by the log comes with no valid consistency proof from size %d", c.Size, cur.Size)}
				return nil, nil
			}
		}
		return next, nil
	})
	if err != nil {
		s.cfg.Logger.Error("couldn't save the witness state", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if alarm != nil && s.cfg.Alarm != nil {
		alarm.Log = origin
		s.cfg.Alarm(alarm)
	}
	if no != nil {
		if no.status == http.StatusConflict {
			w.Header().Set("Content-Type", SizeContentType)
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, "%d\n", no.size)
			return
		}
		s.cfg.Logger.Warn("refused a checkpoint", "size", c.Size, "old", old, "status", no.status, "reason", no.msg)
		http.Error(w, no.msg, no.status)
		return
	}
	line, err := CosignatureLine(n.Text, s.cfg.Signer)
	if err != nil {
		s.cfg.Logger.Error("couldn't cosign", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	s.cfg.Logger.Info("cosigned", "size", c.Size)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(line) //nolint:errcheck // the client may have gone
}

// ParseAddCheckpoint splits a C2SP tlog-witness add-checkpoint request body:
// "old <size>", the consistency proof lines (base64 hashes), a blank line,
// then the checkpoint note.
func ParseAddCheckpoint(body []byte) (old uint64, proof [][]byte, msg []byte, err error) {
	br := bufio.NewReader(bytes.NewReader(body))
	line, err := br.ReadString('\n')
	if err != nil {
		return 0, nil, nil, errors.New("no old size line")
	}
	v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "old ")
	if !ok {
		return 0, nil, nil, errors.New("the first line is not \"old <size>\"")
	}
	if old, err = strconv.ParseUint(v, 10, 64); err != nil || strconv.FormatUint(old, 10) != v {
		return 0, nil, nil, fmt.Errorf("bad old size %q", v)
	}
	proof = [][]byte{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return 0, nil, nil, errors.New("no blank line before the checkpoint")
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			break
		}
		h, err := proofs.ParseHash(line)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("bad proof line: %w", err)
		}
		proof = append(proof, h[:])
		if len(proof) > 64 {
			return 0, nil, nil, errors.New("the proof has more than 64 hashes")
		}
	}
	msg, _ = io.ReadAll(br)
	return old, proof, msg, nil
}

// CosignatureLine signs a checkpoint text with a cosignature signer and
// returns the note signature line "— <name> <base64>\n".
func CosignatureLine(text string, signer note.Signer) ([]byte, error) {
	signed, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		return nil, fmt.Errorf("couldn't cosign: %w", err)
	}
	return signed[len(text)+1:], nil
}

// NewCosigner returns a timestamped cosignature v1 signer (C2SP
// tlog-cosignature) for a note signer key "PRIVATE+KEY+name+hash+key", and
// the matching verifier key of type 0x04 to configure in the log.
func NewCosigner(skey string) (note.Signer, string, error) {
	skey = strings.TrimSpace(skey)
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, "", fmt.Errorf("couldn't load the witness key: %w", err)
	}
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 {
		return nil, "", errors.New("couldn't load the witness key: want PRIVATE+KEY+name+hash+key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return nil, "", errors.New("couldn't load the witness key: not an Ed25519 key")
	}
	pub := append([]byte{0x04}, ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)...)
	h := sha256.New()
	h.Write([]byte(parts[2] + "\n"))
	h.Write(pub)
	hash := binary.BigEndian.Uint32(h.Sum(nil))
	vkey := fmt.Sprintf("%s+%08x+%s", parts[2], hash, base64.StdEncoding.EncodeToString(pub))
	if hash != s.KeyHash() {
		return nil, "", errors.New("couldn't derive the witness verifier key")
	}
	return s, vkey, nil
}
