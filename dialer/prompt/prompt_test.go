package prompt

import (
	"bytes"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/qualdial/qualdial/dialer/media"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
)

func rms(x []int16) float64 {
	s := 0.0
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(max(len(x), 1)))
}

func sine(freq float64, rate, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(10000 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}

func TestResample(t *testing.T) {
	t.Parallel()
	// A 1 kHz tone survives 22.05 kHz → 8 kHz; a 6 kHz tone (above 4 kHz
	// Nyquist) is filtered out instead of aliasing to 2 kHz.
	pass := Resample(sine(1000, 22050, 22050), 22050, 8000)
	stop := Resample(sine(6000, 22050, 22050), 22050, 8000)
	if len(pass) < 7990 || len(pass) > 8010 {
		t.Fatalf("1 s became %d samples", len(pass))
	}
	if r := rms(pass[100 : len(pass)-100]); r < 6500 {
		t.Errorf("1 kHz tone rms %.0f after resampling, want about 7071", r)
	}
	if r := rms(stop[100 : len(stop)-100]); r > 700 {
		t.Errorf("6 kHz tone leaks with rms %.0f", r)
	}
}

func TestWAVRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.wav")
	in := sine(440, 8000, 4000)
	if err := WriteWAVFile(path, in); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	out, err := DecodeWAV(bytes.NewReader(b))
	if err != nil || len(out) != len(in) || out[123] != in[123] {
		t.Fatalf("round trip: %d samples, %v", len(out), err)
	}
	if _, err := DecodeWAV(bytes.NewReader([]byte("not a wav file at all, clearly"))); err == nil {
		t.Error("garbage decoded")
	}
}

func TestSourceRecordedAndPlaceholder(t *testing.T) {
	t.Parallel()
	recDir := t.TempDir()
	rec := sine(300, 8000, 8000)
	WriteWAVFile(filepath.Join(recDir, "q.wav"), rec)
	b, _ := os.ReadFile(filepath.Join(recDir, "q.wav"))
	src := &Source{FS: fstest.MapFS{"prompts/q.wav": {Data: b}}, ESpeak: "/nonexistent/espeak-ng", Placeholder: true}
	got, err := src.Audio(t.Context(), ivr.Prompt{Text: "Press 1.", Audio: "prompts/q.wav"}, "en-US", "")
	if err != nil || len(got) != len(rec) {
		t.Fatalf("recorded: %d samples, %v", len(got), err)
	}
	got, err = src.Audio(t.Context(), ivr.Prompt{Text: "Fourteen chars"}, "en-US", "")
	if err != nil || len(got) < media.SampleRate {
		t.Fatalf("placeholder: %d samples, %v", len(got), err)
	}
	// A personalised prompt without TTS falls back to the rendered generic text.
	dir := t.TempDir()
	if err := Store(dir, "en-us", "Hi there.", sine(300, 8000, 800)); err != nil {
		t.Fatal(err)
	}
	noTTS := &Source{Rendered: os.DirFS(dir), ESpeak: "/nonexistent/espeak-ng"}
	got, err = noTTS.Audio(t.Context(), ivr.Prompt{Text: "Hi Ann.", Personalized: true, Generic: "Hi there."}, "en-US", "")
	if err != nil || len(got) != 800 {
		t.Fatalf("generic fallback: %d samples, %v", len(got), err)
	}
	strict := &Source{ESpeak: "/nonexistent/espeak-ng"}
	if _, err := strict.Audio(t.Context(), ivr.Prompt{Text: "x"}, "en-US", ""); err == nil {
		t.Error("no TTS and no placeholder: want an error")
	}
}

func TestSpeak(t *testing.T) {
	t.Parallel()
	needESpeak(t)
	src := &Source{CacheDir: t.TempDir()}
	for _, tc := range []struct{ text, lang string }{{"Press 1 for yes.", "en-US"}, {"Нажмите 1.", "ru-RU"}} {
		pcm, err := src.Speak(t.Context(), tc.text, tc.lang, "")
		if err != nil {
			t.Fatal(err)
		}
		if secs := float64(len(pcm)) / media.SampleRate; secs < 0.5 || secs > 5 || rms(pcm) < 300 {
			t.Fatalf("%q: %.1f s, rms %.0f", tc.text, secs, rms(pcm))
		}
		// Speech must not sound like keys to our own in-band detector.
		d := media.NewToneDetector()
		for i := 0; i+media.FrameSamples <= len(pcm); i += media.FrameSamples {
			if k, ok := d.Feed(pcm[i : i+media.FrameSamples]); ok {
				t.Errorf("%q: speech detected as key %q (talk-off)", tc.text, k)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(src.CacheDir, "*", "*.ul"))
	if len(files) != 2 {
		t.Errorf("cache holds %d files, want 2", len(files))
	}
	if v := Voice("ru-RU", ""); v != "ru" {
		t.Errorf("Voice(ru-RU) = %s", v)
	}
}

// TestSpeakTakesTextNeverOptions: a lead's field in a prompt is spoken, never
// read as an espeak-ng option (-f reads a file aloud; --stdout elsewhere…).
func TestSpeakTakesTextNeverOptions(t *testing.T) {
	t.Parallel()
	needESpeak(t)
	src := &Source{}
	for _, text := range []string{"-f /nonexistent/qualdial-secret", "--path=/tmp -v xx", "-w /tmp/qualdial-written.wav"} {
		pcm, err := src.Speak(t.Context(), text, "en-US", "")
		if err != nil {
			t.Errorf("%q: %v (taken as options?)", text, err)
			continue
		}
		if secs := float64(len(pcm)) / media.SampleRate; secs < 0.5 || rms(pcm) < 300 {
			t.Errorf("%q: %.1f s of audio, rms %.0f: not spoken", text, secs, rms(pcm))
		}
	}
	if _, err := os.Stat("/tmp/qualdial-written.wav"); err == nil {
		t.Error("espeak-ng wrote a file named by the text")
	}
}

// TestCheck: before a campaign calls anyone, every prompt must be playable
// as itself — the shipped scripts are (their speech is built in), a text
// nobody rendered is not without espeak-ng, and recorded audio must exist.
// A placeholder hum never counts.
func TestCheck(t *testing.T) {
	t.Parallel()
	noTTS := &Source{Rendered: scripts.Prompts, ESpeak: "/nonexistent/espeak-ng", Placeholder: true}
	for _, id := range []string{"bant-en", "bant-ru", "anum-en", "champ-en", "faint-en"} {
		src, err := scripts.Read(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := noTTS.Check(t.Context(), ivr.MustParse(id+".yaml", src)); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	src, _ := scripts.Read("bant-en")
	changed := ivr.MustParse("x.yaml", bytes.Replace(src, []byte("Press 1 to start"), []byte("Press 1 to begin"), 1))
	err := noTTS.Check(t.Context(), changed)
	if err == nil || !strings.Contains(err.Error(), "no speech for") || !strings.Contains(err.Error(), "Four quick questions") {
		t.Errorf("an unrendered text without espeak-ng: %v", err)
	}
	withAudio := ivr.MustParse("x.yaml", bytes.Replace(src, []byte("  - id: intro\n"), []byte("  - id: intro\n    audio: prompts/intro.wav\n"), 1))
	if err := noTTS.Check(t.Context(), withAudio); err == nil || !strings.Contains(err.Error(), "prompts/intro.wav") {
		t.Errorf("recorded audio and no audio directory: %v", err)
	}
	recDir := t.TempDir()
	WriteWAVFile(filepath.Join(recDir, "intro.wav"), sine(300, 8000, 8000))
	b, _ := os.ReadFile(filepath.Join(recDir, "intro.wav"))
	ok := &Source{Rendered: scripts.Prompts, FS: fstest.MapFS{"prompts/intro.wav": {Data: b}}, ESpeak: "/nonexistent/espeak-ng"}
	if err := ok.Check(t.Context(), withAudio); err != nil {
		t.Errorf("recorded audio present: %v", err)
	}
	broken := &Source{Rendered: scripts.Prompts, FS: fstest.MapFS{"prompts/intro.wav": {Data: []byte("not audio")}}, ESpeak: "/nonexistent/espeak-ng"}
	if err := broken.Check(t.Context(), withAudio); err == nil || !strings.Contains(err.Error(), "not a WAV") {
		t.Errorf("recorded audio that is not audio: %v", err)
	}
}

// TestCheckLanguageWithoutVoice: a script in a language espeak-ng has no
// voice for cannot start a campaign — every call would be answered and
// dropped at its first prompt — while the same script in English can.
func TestCheckLanguageWithoutVoice(t *testing.T) {
	t.Parallel()
	needESpeak(t)
	src, _ := scripts.Read("bant-en")
	src = bytes.Replace(src, []byte("Press 1 to start"), []byte("Press 1 to begin"), 1) // not rendered in advance
	tts := &Source{Rendered: scripts.Prompts}
	if err := tts.Check(t.Context(), ivr.MustParse("en.yaml", src)); err != nil {
		t.Errorf("English with espeak-ng: %v", err)
	}
	xx := ivr.MustParse("xx.yaml", bytes.Replace(src, []byte("language: en-US"), []byte("language: xx"), 1))
	if xx.Language != "xx" {
		t.Fatalf("language %q", xx.Language)
	}
	err := tts.Check(t.Context(), xx)
	if err == nil || !strings.Contains(err.Error(), `no voice "xx" for language "xx"`) {
		t.Errorf("a language espeak-ng cannot speak: %v", err)
	}
	if err := tts.CanSpeak(t.Context(), "xx", ""); err == nil {
		t.Error("CanSpeak xx (remembered): no error")
	}
	if err := (&Source{ESpeak: "/nonexistent/espeak-ng"}).CanSpeak(t.Context(), "en-US", ""); !errors.Is(err, ErrNoTTS) {
		t.Errorf("CanSpeak without espeak-ng: %v", err)
	}
}

// needESpeak skips a test that needs espeak-ng where it is not installed —
// but not in CI, where it must be.
func needESpeak(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("espeak-ng is required in CI")
		}
		t.Skip(err)
	}
}
