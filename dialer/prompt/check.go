package prompt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"strings"

	"github.com/qualdial/qualdial/ivr"
)

// maxProblems bounds the problems Check lists.
const maxProblems = 10

// Check reports, before a campaign calls anyone, whether every prompt of
// the script can be played as itself: a question's recorded audio must
// exist and decode, and every text must be speech — rendered in advance,
// cached, or by espeak-ng. A placeholder hum is never enough for real
// people, whatever Placeholder says. The error lists what is missing.
func (s *Source) Check(ctx context.Context, sc *ivr.Script) error {
	var problems []string
	tts := true
	if _, err := s.espeak(); err != nil {
		tts = false
	}
	voiceChecked := false
	for _, p := range sc.Prompts() {
		if p.Audio != "" {
			if s.FS == nil {
				problems = append(problems, fmt.Sprintf("recorded audio %s: no audio directory is configured", p.Audio))
			} else if _, err := s.recorded(p.Audio); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					err = errors.New("not found")
				}
				problems = append(problems, fmt.Sprintf("recorded audio %s: %v", p.Audio, err))
			}
			continue
		}
		if p.Text == "" {
			continue
		}
		_, stored := s.stored(Voice(sc.Language, sc.Voice), p.Text)
		if tts {
			// Texts that are not rendered yet (and every {{placeholder}}
			// text) are spoken per call: espeak-ng must have the voice.
			if !stored && !voiceChecked {
				voiceChecked = true
				if err := s.CanSpeak(ctx, sc.Language, sc.Voice); err != nil {
					problems = append(problems, err.Error())
				}
			}
			continue
		}
		if !stored {
			problems = append(problems, fmt.Sprintf("no speech for %q: install espeak-ng, or run qualdial prompts render", short(p.Text)))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if len(problems) == 0 {
		return nil
	}
	n, more := len(problems), ""
	if n > maxProblems {
		more = fmt.Sprintf("; …and %d more", n-maxProblems)
		problems = problems[:maxProblems]
	}
	return fmt.Errorf("%d prompt(s) of script %s cannot be played: %s%s", n, sc.ID, strings.Join(problems, "; "), more)
}

// CanSpeak reports whether espeak-ng can speak the language (or the
// script's voice): a language it has no voice for would fail every call
// after the answer. It says ErrNoTTS when espeak-ng is not installed.
func (s *Source) CanSpeak(ctx context.Context, language, voice string) error {
	v := Voice(language, voice)
	if ok, known := s.voices.Load(v); known {
		if ok.(bool) {
			return nil
		}
		return fmt.Errorf("espeak-ng has no voice %q for language %q: set the script's voice, or render its prompts in advance", v, language)
	}
	bin, err := s.espeak()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "-v", v, "-q", "--stdin")
	cmd.Stdin = strings.NewReader("ok")
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.voices.Store(v, false)
		return fmt.Errorf("espeak-ng has no voice %q for language %q: set the script's voice, or render its prompts in advance", v, language)
	}
	s.voices.Store(v, true)
	return nil
}

func short(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}
