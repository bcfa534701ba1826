package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/auditledger/auditledger/ledger"
)

// errorBody is the SPEC §4 error object.
type errorBody struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Field    string `json:"field,omitempty"`
	Position *int   `json:"position,omitempty"`
}

// apiError is an error with its HTTP status and code.
type apiError struct {
	status int
	body   errorBody
}

func (e *apiError) Error() string { return e.body.Message }

func newError(status int, code, msg string) *apiError {
	return &apiError{status: status, body: errorBody{Code: code, Message: msg}}
}

func badRequest(field, msg string) *apiError {
	e := newError(http.StatusBadRequest, "invalid_argument", msg)
	e.body.Field = field
	return e
}

// fail writes err as the SPEC's error object with the status it maps to and
// aborts the request.
func fail(c *gin.Context, err error) {
	var ae *apiError
	var ve *ledger.ValidationError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &ve):
		ae = newError(http.StatusBadRequest, "invalid_event", ve.Error())
		ae.body.Field = ve.Field
		if ve.Position >= 0 {
			p := ve.Position
			ae.body.Position = &p
		}
		if errors.Is(err, ledger.ErrTooLarge) {
			ae.status, ae.body.Code = http.StatusRequestEntityTooLarge, "too_large"
		}
	case errors.Is(err, ledger.ErrTooLarge):
		ae = newError(http.StatusRequestEntityTooLarge, "too_large", err.Error())
	case errors.Is(err, ledger.ErrNotFound):
		ae = newError(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, ledger.ErrExists):
		ae = newError(http.StatusConflict, "exists", err.Error())
	case errors.Is(err, ledger.ErrInvalid):
		ae = newError(http.StatusBadRequest, "invalid_argument", err.Error())
	case errors.Is(err, ledger.ErrPushback):
		c.Header("Retry-After", "1")
		ae = newError(http.StatusServiceUnavailable, "pushback", "too many events are waiting to be committed; retry shortly")
	case errors.Is(err, ledger.ErrClosed), errors.Is(err, ledger.ErrFailed):
		c.Header("Retry-After", "5")
		ae = newError(http.StatusServiceUnavailable, "unavailable", err.Error())
	case errors.Is(err, ledger.ErrReadOnly):
		ae = newError(http.StatusForbidden, "read_only", err.Error())
	default:
		// Don't leak internals: log the detail, answer a generic message.
		ae = newError(http.StatusInternalServerError, "internal", "internal error")
		c.Error(err) //nolint:errcheck // recorded for the access log
	}
	c.AbortWithStatusJSON(ae.status, gin.H{"error": ae.body})
}
