package api

import (
	"errors"

	"github.com/auditledger/auditledger/ledger"
)

// witnessJSON is one witness in the log object and in PATCH /v1/logs/{log}.
type witnessJSON struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Key  string `json:"key"`
}

func witnessObjects(ws []ledger.Witness) []witnessJSON {
	out := make([]witnessJSON, len(ws))
	for i, w := range ws {
		out[i] = witnessJSON(w)
	}
	return out
}

// patchWitnesses applies a PATCH's witnesses and witness_quorum to the
// current settings. An omitted quorum keeps the current one (none again when
// the list is emptied); a quorum beyond the new list is a 400 naming
// witness_quorum, as is any bad witness (naming "witnesses[i].field").
func patchWitnesses(cur ledger.WitnessSettings, list *[]ledger.Witness, quorum *int) (ledger.WitnessSettings, bool, error) {
	if list == nil && quorum == nil {
		return cur, false, nil
	}
	next := cur
	if list != nil {
		next.List = *list
		if len(next.List) == 0 {
			next.Quorum = 0
		}
	}
	if quorum != nil {
		if *quorum < 1 {
			return cur, false, badRequest("witness_quorum", "witness_quorum must lie between 1 and the number of witnesses")
		}
		next.Quorum = *quorum
	}
	if err := ledger.CheckWitnesses(next.List, next.Quorum); err != nil {
		var ve *ledger.ValidationError
		if errors.As(err, &ve) {
			return cur, false, badRequest(ve.Field, ve.Message)
		}
		return cur, false, err
	}
	return next, true, nil
}
