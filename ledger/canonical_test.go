package ledger

import (
	"bytes"
	"testing"

	"github.com/gowebpki/jcs"
)

var canonicalCases = []string{
	`{}`, `{"b":1,"a":2}`, ` { "role_to" : "admin", "role_from": "member" } `,
	`{"a":[1,2,{"z":null,"y":true}],"b":{"c":false}}`, `{"n":-12,"z":0,"big":123456789012345}`,
	`{"s":"é ü \u2028 x"}`, "{\"s\":\"\xe2\x80\xa8\"}", `{"a":1.5}`, `{"a":1e3}`, `{"a":-0}`, `{"a":012}`,
	`{"a":"x\"y"}`, `{"é":1}`, `{"a":1,"a":2}`, `{"a":[]}`, `{"a":[ ]}`, `{"a":1234567890123456}`,
	`{"a":tru}`, `{"a":1,}`, `{"a" 1}`, `[1]`, `{"a":"\u0001"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}",
	`{"10":1,"9":2,"_":3,"A":4,"a":5}`,
	// Sorted objects (written as they come), with unsorted ones inside,
	// and the first key out of order or repeated late.
	`{"a":1,"b":{"d":1,"c":2},"c":[{"y":1,"x":2}]}`, `{"a":1,"b":2,"b":3}`, `{"a":1,"c":2,"b":3}`,
	`{ "a" : { "b" : [ 1 , { "c" : "d" } ] } , "e" : null }`, `{"a":1,"b":2,}`, `{"a":{"b":1},"a":2}`,
}

// checkCanonical wants canonicalDetails to agree with jcs.Transform
// wherever it answers.
func checkCanonical(t testing.TB, in []byte) {
	t.Helper()
	got, ok := canonicalDetails(in)
	if !ok {
		return
	}
	want, err := jcs.Transform(in)
	if err != nil {
		t.Fatalf("canonicalDetails(%q) = %q, but jcs.Transform fails: %v", in, got, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("canonicalDetails(%q) = %q, jcs.Transform %q", in, got, want)
	}
}

func TestCanonicalDetails(t *testing.T) {
	accepted := 0
	for _, c := range canonicalCases {
		checkCanonical(t, []byte(c))
		if _, ok := canonicalDetails([]byte(c)); ok {
			accepted++
		}
	}
	// The common shapes take the fast path.
	for _, c := range []string{`{"b":1,"a":2}`, ` { "role_to" : "admin", "role_from": "member" } `, `{"a":[1,2,{"z":null,"y":true}],"b":{"c":false}}`} {
		if _, ok := canonicalDetails([]byte(c)); !ok {
			t.Errorf("%s: not taken by the fast path", c)
		}
	}
	if accepted < 8 {
		t.Errorf("only %d cases accepted", accepted)
	}
}

func FuzzCanonicalDetails(f *testing.F) {
	for _, c := range canonicalCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkCanonical(t, in)
	})
}

func BenchmarkCanonicalDetails(b *testing.B) {
	in := []byte(`{"role_from": "member", "role_to": "admin", "reason": "quarterly access review", "ticket": 4821}`)
	sorted := []byte(`{"reason":"quarterly access review","role_from":"member","role_to":"admin","ticket":4821}`)
	b.Run("impl=fast", func(b *testing.B) {
		for b.Loop() {
			if _, ok := canonicalDetails(in); !ok {
				b.Fatal("not canonicalized")
			}
		}
	})
	b.Run("impl=fast/keys=sorted", func(b *testing.B) {
		for b.Loop() {
			if _, ok := canonicalDetails(sorted); !ok {
				b.Fatal("not canonicalized")
			}
		}
	})
	b.Run("impl=jcs.Transform", func(b *testing.B) {
		for b.Loop() {
			if _, err := jcs.Transform(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
