// tlog.go: writes tlog.json, the test vectors of kcs's audit checkpoints,
// with the Go reference code (golang.org/x/mod/sumdb/tlog and note):
// RFC 6962 tree hashes, inclusion and consistency proofs, and a signed
// checkpoint. Debian: apt-get install golang-go golang-golang-x-mod-dev;
//   GO111MODULE=off GOPATH=/usr/share/gocode go run tlog.go > tlog.json
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type store map[int64]tlog.Hash

func (s store) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = s[x]
	}
	return out, nil
}

func b64(hs []tlog.Hash) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, base64.StdEncoding.EncodeToString(h[:]))
	}
	return out
}

func main() {
	const n = 21
	s := store{}
	leaves := []string{}
	for i := int64(0); i < n; i++ {
		d := fmt.Sprintf("kcs leaf %d", i)
		leaves = append(leaves, d)
		hs, err := tlog.StoredHashes(i, []byte(d), s)
		if err != nil {
			panic(err)
		}
		for j, h := range hs {
			s[tlog.StoredHashIndex(0, i)+int64(j)] = h
		}
	}
	roots := map[string]string{}
	for t := int64(1); t <= n; t++ {
		h, err := tlog.TreeHash(t, s)
		if err != nil {
			panic(err)
		}
		roots[fmt.Sprint(t)] = base64.StdEncoding.EncodeToString(h[:])
	}
	type proof struct {
		Size  int64    `json:"size"`
		Index int64    `json:"index,omitempty"`
		From  int64    `json:"from,omitempty"`
		Proof []string `json:"proof"`
	}
	incl := []proof{}
	cons := []proof{}
	for t := int64(1); t <= n; t++ {
		for i := int64(0); i < t; i++ {
			p, err := tlog.ProveRecord(t, i, s)
			if err != nil {
				panic(err)
			}
			incl = append(incl, proof{Size: t, Index: i, Proof: b64(p)})
		}
		for m := int64(1); m < t; m++ {
			p, err := tlog.ProveTree(t, m, s)
			if err != nil {
				panic(err)
			}
			cons = append(cons, proof{Size: t, From: m, Proof: b64(p)})
		}
	}
	// a checkpoint of the 21 leaves, signed with a fixed seed
	seed := sha256.Sum256([]byte("kcs test audit key"))
	name := "kcs.example/audit"
	pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	kh := sha256.Sum256(append(append([]byte(name), '\n', 1), pub...))
	id := binary.BigEndian.Uint32(kh[:4])
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, id, base64.StdEncoding.EncodeToString(append([]byte{1}, seed[:]...)))
	vkey := fmt.Sprintf("%s+%08x+%s", name, id, base64.StdEncoding.EncodeToString(append([]byte{1}, pub...)))
	signer, err := note.NewSigner(skey)
	if err != nil {
		panic(err)
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", name, n, roots[fmt.Sprint(n)])
	signed, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		panic(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		panic(err)
	}
	if _, err := note.Open(signed, note.VerifierList(verifier)); err != nil {
		panic(err)
	}
	out := map[string]interface{}{
		"made_by":     "tests/vectors/tlog.go with golang.org/x/mod/sumdb/tlog and note",
		"leaves":      leaves,
		"roots":       roots,
		"inclusion":   incl,
		"consistency": cons,
		"note": map[string]string{
			"seed": hex.EncodeToString(seed[:]), "name": name, "text": text, "signed": string(signed), "vkey": vkey,
		},
	}
	e := json.NewEncoder(os.Stdout)
	e.SetIndent("", " ")
	if err := e.Encode(out); err != nil {
		panic(err)
	}
}
