package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/qualdial/qualdial/dialer/prompt"
	"github.com/qualdial/qualdial/dialer/twilio"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
)

type noSessions struct{}

func (noSessions) CreateSession(context.Context, string, []byte) error { return nil }
func (noSessions) Session(context.Context, string) ([]byte, error)     { return nil, nil }
func (noSessions) UpdateSession(context.Context, string, func([]byte) ([]byte, error)) error {
	return nil
}

// TestTwilioPromptCheck: serve refuses a Twilio campaign whose recorded
// audio Twilio cannot fetch, and lets one whose prompts are all text (Twilio
// speaks them) start.
func TestTwilioPromptCheck(t *testing.T) {
	t.Parallel()
	src, err := scripts.Read("bant-en")
	if err != nil {
		t.Fatal(err)
	}
	withAudio := bytes.Replace(src, []byte("or 3 if there is no budget.\"\n"), []byte("or 3 if there is no budget.\"\n    audio: prompts/budget.wav\n"), 1)
	audio := fstest.MapFS{}
	tw, err := twilio.New(twilio.Config{AccountSID: "AC0123", AuthToken: "token", PublicURL: "https://dialer.example", Sessions: noSessions{}, Audio: audio})
	if err != nil {
		t.Fatal(err)
	}
	check := promptCheck(&prompt.Source{FS: audio}, tw)
	if err := check(t.Context(), "twilio", ivr.MustParse("bant-en.yaml", src)); err != nil {
		t.Errorf("a script of texts refused on Twilio: %v", err)
	}
	err = check(t.Context(), "twilio", ivr.MustParse("bant-audio.yaml", withAudio))
	if err == nil || !strings.Contains(err.Error(), "prompts/budget.wav: not found") {
		t.Errorf("missing recorded audio on Twilio: %v", err)
	}
	audio["prompts/budget.wav"] = &fstest.MapFile{Data: []byte("RIFF....WAVE")}
	if err := check(t.Context(), "twilio", ivr.MustParse("bant-audio.yaml", withAudio)); err != nil {
		t.Errorf("recorded audio present, still refused: %v", err)
	}
}
