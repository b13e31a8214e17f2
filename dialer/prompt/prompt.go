// Package prompt turns script prompts into 8 kHz audio for the SIP driver,
// trying in order: recorded audio named by the script; speech rendered
// earlier (by `qualdial prompts render`, or cached); espeak-ng now; the
// pre-rendered generic version of a personalised prompt; and — when allowed —
// a placeholder hum as long as the text would take to say.
//
// Rendered speech is stored as headerless G.711 μ-law at 8 kHz, one file per
// voice and text: <voice>/<sha256(text)[:16]>.ul.
package prompt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-audio/audio"
	"github.com/go-audio/wav"

	"github.com/qualdial/qualdial/dialer/media"
	"github.com/qualdial/qualdial/ivr"
)

// ErrNoTTS means espeak-ng is not installed.
var ErrNoTTS = errors.New("espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)")

// Source resolves prompts to audio. The zero value renders with espeak-ng
// from PATH and caches in memory only. It is safe for concurrent use.
type Source struct {
	// FS holds recorded audio; a prompt's Audio is a path in it.
	FS fs.FS
	// Rendered holds speech rendered in advance (read only), such as the
	// shipped scripts' prompts.
	Rendered fs.FS
	// CacheDir keeps speech rendered at run time; empty: memory only.
	CacheDir string
	// ESpeak is the espeak-ng binary; empty: looked up on PATH.
	ESpeak string
	// Placeholder allows, when neither recorded audio nor TTS is available,
	// a soft tone followed by silence as long as the text would take to say
	// (for tests and trunk checks).
	Placeholder bool
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger

	mu     sync.Mutex
	cache  map[string][]int16
	warn   sync.Once
	voices sync.Map // espeak-ng voice → whether espeak-ng has it
}

// maxCached bounds the in-memory cache (prompts of a few scripts).
const maxCached = 512

// Audio returns the prompt as 8 kHz linear samples.
func (s *Source) Audio(ctx context.Context, p ivr.Prompt, language, voice string) ([]int16, error) {
	if p.Text == "" && p.Audio == "" {
		return nil, nil
	}
	key := p.Audio + "\x00" + p.Text + "\x00" + language + "\x00" + voice
	s.mu.Lock()
	if pcm, ok := s.cache[key]; ok {
		s.mu.Unlock()
		return pcm, nil
	}
	s.mu.Unlock()
	pcm, err := s.resolve(ctx, p, language, voice)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.cache == nil || len(s.cache) >= maxCached {
		s.cache = make(map[string][]int16)
	}
	s.cache[key] = pcm
	s.mu.Unlock()
	return pcm, nil
}

func (s *Source) resolve(ctx context.Context, p ivr.Prompt, language, voice string) ([]int16, error) {
	// Recorded audio says the generic text: a personalised prompt prefers
	// speech of its own text.
	var recorded []int16
	if p.Audio != "" && s.FS != nil {
		pcm, err := s.recorded(p.Audio)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if err == nil && !p.Personalized {
			return pcm, nil
		}
		recorded = pcm
	}
	v := Voice(language, voice)
	if pcm, ok := s.stored(v, p.Text); ok {
		return pcm, nil
	}
	pcm, err := s.Speak(ctx, p.Text, language, voice)
	if !errors.Is(err, ErrNoTTS) {
		return pcm, err
	}
	// No TTS: fall back to the generic version of a personalised prompt.
	if recorded != nil {
		return recorded, nil
	}
	if p.Personalized {
		if pcm, ok := s.stored(v, p.Generic); ok {
			return pcm, nil
		}
	}
	if s.Placeholder {
		s.warn.Do(func() {
			s.logger().Warn("no text-to-speech: prompts play as placeholder hums; install espeak-ng or run qualdial prompts render")
		})
		return Placeholder(p.Text), nil
	}
	return nil, fmt.Errorf("no audio for %q: %w", p.Text, err)
}

// StorePath is where rendered speech of text in voice is kept, relative
// to a render directory.
func StorePath(voice, text string) string {
	sum := sha256.Sum256([]byte(voice + "\x00" + text))
	return voice + "/" + hex.EncodeToString(sum[:8]) + ".ul"
}

// stored looks for rendered speech in Rendered, then CacheDir.
func (s *Source) stored(voice, text string) ([]int16, bool) {
	name := StorePath(voice, text)
	if s.Rendered != nil {
		if b, err := fs.ReadFile(s.Rendered, name); err == nil {
			return media.PCMU.Decode(nil, b), true
		}
	}
	if s.CacheDir != "" {
		if b, err := os.ReadFile(filepath.Join(s.CacheDir, filepath.FromSlash(name))); err == nil {
			return media.PCMU.Decode(nil, b), true
		}
	}
	return nil, false
}

// Store writes rendered speech under dir in the layout Source reads.
func Store(dir, voice, text string, pcm []int16) error {
	path := filepath.Join(dir, filepath.FromSlash(StorePath(voice, text)))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, media.PCMU.Encode(nil, pcm), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (s *Source) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Source) recorded(name string) ([]int16, error) {
	b, err := fs.ReadFile(s.FS, name)
	if err != nil {
		return nil, err
	}
	pcm, err := DecodeWAV(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("prompt audio %s: %w", name, err)
	}
	return pcm, nil
}

func (s *Source) espeak() (string, error) {
	name := "espeak-ng"
	if s.ESpeak != "" {
		name = s.ESpeak
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", ErrNoTTS
	}
	return p, nil
}

// Speak renders text with espeak-ng and keeps it in CacheDir when set.
func (s *Source) Speak(ctx context.Context, text, language, voice string) ([]int16, error) {
	bin, err := s.espeak()
	if err != nil {
		return nil, err
	}
	v := Voice(language, voice)
	// The text goes in on stdin, never on the command line: a lead's name in
	// a prompt ("-f /etc/passwd") must not become an option.
	cmd := exec.CommandContext(ctx, bin, "-v", v, "-s", "160", "--stdout", "--stdin")
	cmd.Stdin = strings.NewReader(text)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("espeak-ng -v %s: %w: %s", v, err, strings.TrimSpace(errOut.String()))
	}
	pcm, err := DecodeWAV(bytes.NewReader(out.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("espeak-ng output: %w", err)
	}
	if s.CacheDir != "" {
		if err := Store(s.CacheDir, v, text, pcm); err != nil {
			s.logger().Warn("cannot cache prompt audio", "dir", s.CacheDir, "error", err)
		}
	}
	return pcm, nil
}

// Voice picks the espeak-ng voice: the script's voice, else its language
// (en-US → en-us, ru-RU → ru).
func Voice(language, voice string) string {
	if voice != "" {
		return voice
	}
	l := strings.ToLower(language)
	switch {
	case l == "":
		return "en-us"
	case strings.HasPrefix(l, "en-"):
		return l
	}
	base, _, _ := strings.Cut(l, "-")
	return base
}

// Placeholder is a soft 440 Hz hum as long as text would take to say
// (about 14 characters a second): audible, never mistaken for a DTMF key,
// and with no pauses, so a listener can tell where the prompt ends.
func Placeholder(text string) []int16 {
	secs := 0.3 + float64(utf8.RuneCountInString(text))/14
	out := make([]int16, int(secs*media.SampleRate))
	for i := range out {
		out[i] = int16(1500 * math.Sin(2*math.Pi*440*float64(i)/media.SampleRate))
	}
	return out
}

// DecodeWAV reads a PCM WAV file (8 or 16 bits, any rate, mono or stereo)
// and returns 8 kHz mono samples.
func DecodeWAV(r io.ReadSeeker) ([]int16, error) {
	d := wav.NewDecoder(r)
	if !d.IsValidFile() {
		return nil, errors.New("not a WAV file")
	}
	if d.WavAudioFormat != 1 {
		return nil, fmt.Errorf("WAV format %d is not PCM: convert it, e.g. sox in.wav -r 8000 -c 1 -b 16 out.wav", d.WavAudioFormat)
	}
	buf, err := d.FullPCMBuffer()
	if err != nil {
		return nil, err
	}
	ch := max(buf.Format.NumChannels, 1)
	shift := 0
	if buf.SourceBitDepth == 8 {
		shift = 8
	}
	mono := make([]int16, 0, len(buf.Data)/ch)
	for i := 0; i+ch <= len(buf.Data); i += ch {
		v := buf.Data[i]
		if buf.SourceBitDepth == 8 {
			v -= 128
		}
		mono = append(mono, int16(v<<shift))
	}
	return Resample(mono, buf.Format.SampleRate, media.SampleRate), nil
}

// WriteWAVFile writes 8 kHz mono 16-bit PCM.
func WriteWAVFile(path string, pcm []int16) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	enc := wav.NewEncoder(f, media.SampleRate, 16, 1, 1)
	data := make([]int, len(pcm))
	for i, v := range pcm {
		data[i] = int(v)
	}
	err = enc.Write(&audio.IntBuffer{Format: &audio.Format{NumChannels: 1, SampleRate: media.SampleRate}, Data: data, SourceBitDepth: 16})
	err = errors.Join(err, enc.Close(), f.Close())
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// Resample converts between sample rates with a windowed-sinc low-pass, so
// that speech rendered at 22.05 kHz does not alias when sent at 8 kHz.
func Resample(in []int16, from, to int) []int16 {
	if from == to || from <= 0 || len(in) == 0 {
		return in
	}
	ratio := float64(from) / float64(to)
	cutoff := 0.95 * math.Min(1, 1/ratio) // of the input Nyquist
	const half = 12                       // taps each side (scaled by ratio when decimating)
	width := int(math.Ceil(half * math.Max(1, ratio)))
	out := make([]int16, int(float64(len(in))/ratio))
	for i := range out {
		center := float64(i) * ratio
		c := int(center)
		var acc, norm float64
		for j := c - width + 1; j <= c+width; j++ {
			if j < 0 || j >= len(in) {
				continue
			}
			x := center - float64(j)
			w := 0.5 + 0.5*math.Cos(math.Pi*x/float64(width+1)) // Hann
			h := cutoff * w
			if x != 0 {
				h *= math.Sin(math.Pi*cutoff*x) / (math.Pi * cutoff * x)
			}
			acc += float64(in[j]) * h
			norm += h
		}
		if norm != 0 {
			acc /= norm
		}
		out[i] = int16(max(-32768, min(32767, math.Round(acc))))
	}
	return out
}
