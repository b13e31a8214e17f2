package twilio

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/qualdial/qualdial/ivr"
)

// audioTypes are the recorded audio formats Twilio's <Play> takes, by file
// extension.
var audioTypes = map[string]string{
	".wav": "audio/wav", ".mp3": "audio/mpeg", ".aif": "audio/aiff", ".aiff": "audio/aiff",
	".gsm": "audio/gsm", ".ul": "audio/ulaw", ".ulaw": "audio/ulaw",
}

// audioTTL is how long a signed audio URL stays valid when Config says
// nothing: longer than any call, short enough that a leaked URL soon stops
// working.
const audioTTL = 2 * time.Hour

// audioURL is the signed, expiring URL of a recorded prompt, served by any
// replica's Handler: /twilio/audio/PATH?exp=UNIX&sig=HMAC.
func (d *Driver) audioURL(name string) string {
	exp := d.cfg.Now().Add(d.cfg.AudioTTL).Unix()
	esc := (&url.URL{Path: name}).EscapedPath()
	return fmt.Sprintf("%s/twilio/audio/%s?exp=%d&sig=%s", d.public, esc, exp, d.audioSig(name, exp))
}

// audioSig is HMAC-SHA256 over the path and expiry with the audio key.
func (d *Driver) audioSig(name string, exp int64) string {
	m := hmac.New(sha256.New, d.audioKey)
	fmt.Fprintf(m, "qualdial twilio audio\n%s\n%d", name, exp)
	return hex.EncodeToString(m.Sum(nil))
}

// serveAudio serves a recorded prompt to Twilio's <Play>: 403 unless the
// URL's signature matches and has not expired, 400 for a path outside the
// audio directory, 404 for a missing file.
func (h *hooks) serveAudio(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("path")
	exp, err := strconv.ParseInt(r.URL.Query().Get("exp"), 10, 64)
	sig := r.URL.Query().Get("sig")
	switch {
	case err != nil || sig == "":
		problem(w, http.StatusForbidden, "the audio URL is not signed")
		return
	case !hmac.Equal([]byte(sig), []byte(h.d.audioSig(name, exp))):
		h.d.cfg.Logger.Warn("twilio audio request with a bad signature", "remote", r.RemoteAddr)
		problem(w, http.StatusForbidden, "the audio URL's signature does not match")
		return
	case h.d.cfg.Now().Unix() > exp:
		problem(w, http.StatusForbidden, "the audio URL has expired")
		return
	case !fs.ValidPath(name) || name == "." || strings.Contains(name, `\`):
		problem(w, http.StatusBadRequest, "not a path in the audio directory")
		return
	case h.d.cfg.Audio == nil:
		problem(w, http.StatusNotFound, "no recorded audio is configured")
		return
	}
	ctype, ok := audioTypes[strings.ToLower(path.Ext(name))]
	if !ok {
		problem(w, http.StatusNotFound, "not an audio file Twilio plays")
		return
	}
	f, err := h.d.cfg.Audio.Open(name)
	if err != nil {
		problem(w, http.StatusNotFound, "no such recorded audio")
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		problem(w, http.StatusNotFound, "no such recorded audio")
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "private, max-age=3600")
	if rs, ok := f.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", st.ModTime(), rs)
		return
	}
	w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	_, _ = io.Copy(w, f)
}

// plays reports whether a prompt is played from its recorded audio rather
// than said: recorded audio says the generic text, so a prompt filled with
// the lead's fields is said.
func (d *Driver) plays(p ivr.Prompt) bool { return p.Audio != "" && !p.Personalized }

// MaxSayText is the most characters Twilio speaks in one <Say>.
const MaxSayText = 4096

func short(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40])
	}
	return s
}

// CheckPrompts reports, before a campaign calls anyone, whether Twilio can
// play every prompt of the script: a question's recorded audio must be in
// the audio directory (Config.Audio) in a format <Play> takes. Texts are
// spoken by Twilio's text-to-speech, up to MaxSayText characters each. The
// error lists what is missing.
func (d *Driver) CheckPrompts(ctx context.Context, sc *ivr.Script) error {
	var problems []string
	for _, p := range sc.Prompts() {
		if p.Audio == "" {
			if n := utf8.RuneCountInString(p.Text); n > MaxSayText {
				problems = append(problems, fmt.Sprintf("text %q… is %d characters: Twilio says at most %d in one <Say>", short(p.Text), n, MaxSayText))
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switch _, ok := audioTypes[strings.ToLower(path.Ext(p.Audio))]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("recorded audio %s: Twilio plays wav, mp3, aiff, gsm or μ-law files", p.Audio))
		case d.cfg.Audio == nil:
			problems = append(problems, fmt.Sprintf("recorded audio %s: no audio directory is configured", p.Audio))
		case !fs.ValidPath(p.Audio):
			problems = append(problems, fmt.Sprintf("recorded audio %s: not a path inside the audio directory", p.Audio))
		default:
			st, err := fs.Stat(d.cfg.Audio, p.Audio)
			if errors.Is(err, fs.ErrNotExist) {
				err = errors.New("not found")
			} else if err == nil && (st.IsDir() || st.Size() == 0) {
				err = errors.New("not an audio file")
			}
			if err != nil {
				problems = append(problems, fmt.Sprintf("recorded audio %s: %v", p.Audio, err))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%d prompt(s) of script %s cannot be played over Twilio: %s", len(problems), sc.ID, strings.Join(problems, "; "))
}
