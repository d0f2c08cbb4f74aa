package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrTrailingData means a state document is followed by something else: a
// file that was appended to, or two documents glued together. Neither is a
// state drover wrote, and reading only the first would silently drop the
// rest.
var ErrTrailingData = errors.New("data after the end of the JSON document")

// Decode parses one state document and nothing after it. It checks the
// JSON only; Validate checks the document.
func Decode(data []byte) (*State, error) {
	var s State
	if err := DecodeStrict(data, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// DecodeStrict decodes exactly one JSON value from data into v; white space
// may follow it, nothing else (ErrTrailingData). For the files drover
// writes beside the state (plan files) as for the state.
func DecodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return fmt.Errorf("%w at offset %d", ErrTrailingData, dec.InputOffset())
	default:
		return fmt.Errorf("%w: another value at offset %d", ErrTrailingData, dec.InputOffset()-int64(len(extra)))
	}
}
