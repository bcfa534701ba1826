// Package proofs holds the pure parts of auditledger's verifiable log: the
// RFC 6962 hashes and the hash chain, C2SP checkpoints signed as notes,
// C2SP tlog-tiles coordinates, and inclusion and consistency proofs.
//
// Nothing here does I/O. A proof is built in three steps: compute which tree
// nodes it needs (transparency-dev/merkle's proof package), let the caller fetch
// their hashes through a NodeReader, then Rehash them into the proof.
package proofs
