package prompt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
		if p.Text == "" || tts {
			continue
		}
		if _, ok := s.stored(Voice(sc.Language, sc.Voice), p.Text); !ok {
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

func short(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}
