package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/amd"
	"github.com/qualdial/qualdial/dialer/media"
	"github.com/qualdial/qualdial/dialer/prompt"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
)

// sipFlags are the SIP driver settings shared by commands that call.
type sipFlags struct {
	listen, publicHost, trunk, proxy, username, password string
	rtpMin, rtpMax, amdThreshold                         int
	codecs                                               string
}

func (e *env) addSIPFlags(cmd *cobra.Command, f *sipFlags) {
	fl := cmd.Flags()
	fl.Var(newHostPort(&f.listen, "127.0.0.1:0", "127.0.0.1:5060, 0.0.0.0:5060 or 127.0.0.1:0"), "sip-listen", "local SIP UDP address; port 0 picks one")
	e.bindEnv(fl, "sip-listen", "QUALDIAL_SIP_LISTEN")
	fl.StringVar(&f.publicHost, "sip-public-host", "", "address the trunk reaches us at, for Via/Contact/SDP")
	e.bindEnv(fl, "sip-public-host", "QUALDIAL_SIP_PUBLIC_HOST")
	fl.StringVar(&f.trunk, "sip-trunk", "", "SIP trunk host[:port] for E.164 numbers")
	e.bindEnv(fl, "sip-trunk", "QUALDIAL_SIP_TRUNK")
	fl.StringVar(&f.proxy, "sip-proxy", "", "outbound proxy host:port")
	e.bindEnv(fl, "sip-proxy", "QUALDIAL_SIP_PROXY")
	fl.StringVar(&f.username, "sip-username", "", "digest auth username")
	e.bindEnv(fl, "sip-username", "QUALDIAL_SIP_USERNAME")
	fl.StringVar(&f.password, "sip-password", "", "digest auth password")
	e.bindEnv(fl, "sip-password", "QUALDIAL_SIP_PASSWORD")
	fl.IntVar(&f.rtpMin, "rtp-port-min", 0, "lowest RTP port (0: any free port)")
	e.bindEnv(fl, "rtp-port-min", "QUALDIAL_RTP_PORT_MIN")
	fl.IntVar(&f.rtpMax, "rtp-port-max", 0, "highest RTP port")
	e.bindEnv(fl, "rtp-port-max", "QUALDIAL_RTP_PORT_MAX")
	fl.Var(newCodecs(&f.codecs, "PCMU,PCMA"), "codecs", "codecs to offer, in order")
	e.bindEnv(fl, "codecs", "QUALDIAL_SIP_CODECS")
	fl.IntVar(&f.amdThreshold, "amd-silence-threshold", 256, "machine detection: mean sample level (1-32767) below which the far end is silent; raise it on trunks that echo our prompts")
	e.bindEnv(fl, "amd-silence-threshold", "QUALDIAL_AMD_SILENCE_THRESHOLD")
}

func (f *sipFlags) config(prompts sip.PromptSource, log *slog.Logger) (sip.Config, error) {
	cfg := sip.Config{
		ListenAddr: f.listen, PublicHost: f.publicHost, Trunk: f.trunk, OutboundProxy: f.proxy,
		Username: f.username, Password: f.password, RTPPortMin: f.rtpMin, RTPPortMax: f.rtpMax,
		Prompts: prompts, Logger: log, MachineDetection: amd.Config{SilenceThreshold: f.amdThreshold},
	}
	if f.amdThreshold < 0 || f.amdThreshold > 32767 {
		return cfg, fmt.Errorf("--amd-silence-threshold %d (env QUALDIAL_AMD_SILENCE_THRESHOLD): give a mean sample level from 1 to 32767 (default 256)", f.amdThreshold)
	}
	for _, c := range strings.Split(f.codecs, ",") {
		switch strings.ToUpper(strings.TrimSpace(c)) {
		case "PCMU":
			cfg.Codecs = append(cfg.Codecs, media.PCMU)
		case "PCMA":
			cfg.Codecs = append(cfg.Codecs, media.PCMA)
		default:
			return cfg, fmt.Errorf("--codecs: %q is not PCMU or PCMA", c)
		}
	}
	return cfg, nil
}

// promptSource is how calls from the command line get their audio: the
// shipped pre-rendered speech, espeak-ng (cached in the user's cache
// directory), else placeholder hums.
// campaignPrompts is serve's prompt source: recorded audio from audioDir
// (where the `audio:` paths of campaign scripts are found; empty: none),
// speech rendered in advance or by espeak-ng — and never a placeholder hum,
// which is for tests and trunk checks, not real people.
func (e *env) campaignPrompts(audioDir string, log *slog.Logger) *prompt.Source {
	src := e.promptSource("", log)
	src.Placeholder = false
	if audioDir != "" {
		src.FS = os.DirFS(audioDir)
	}
	return src
}

func (e *env) promptSource(scriptFile string, log *slog.Logger) *prompt.Source {
	src := &prompt.Source{Rendered: scripts.Prompts, Placeholder: true, Logger: log}
	if dir, err := os.UserCacheDir(); err == nil {
		src.CacheDir = filepath.Join(dir, "qualdial", "prompts")
	}
	if scriptFile != "" {
		src.FS = os.DirFS(filepath.Dir(scriptFile))
	}
	return src
}

func (e *env) callCommand() *cobra.Command {
	var (
		to, scriptName, callerID, callerName string
		ring, maxLen                         time.Duration
		asJSON                               bool
		leadKVs                              []string
		sf                                   sipFlags
		logLevel, dtmf, machine              string
	)
	cmd := &cobra.Command{
		Use:   "call --to URI --script FILE",
		Short: "Place one real call now and run a script over it",
		Long: `Place one call now — to a SIP URI, or to an E.164 number through --sip-trunk — play the
script and print the disposition, the SIP code, the keys heard and the result.
Handy to check a trunk, a script's wording, or a softphone persona.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" || scriptName == "" || callerID == "" {
				return errors.New("--to, --script and --caller-id are required")
			}
			if ring < 15*time.Second {
				return fmt.Errorf("--ring-timeout %s: let it ring at least 15s (consumer protection rules)", ring)
			}
			log, err := e.newLogger("text", logLevel)
			if err != nil {
				return err
			}
			file, s, err := e.loadScript(scriptName)
			if err != nil {
				return err
			}
			lead, err := parseLead(leadKVs)
			if err != nil {
				return err
			}
			prompts := e.promptSource(file, log)
			if err := prompts.CanSpeak(cmd.Context(), s.Language, s.Voice); err != nil && !errors.Is(err, prompt.ErrNoTTS) {
				return fmt.Errorf("%s: %w", file, err) // else every prompt would fail once answered
			}
			eng := ivr.NewEngine(s)
			started, _ := eng.Start(lead)
			req, err := dialer.DialRequest{To: to, CallerID: callerID, CallerName: callerName, RingTimeout: ring, MaxDuration: maxLen,
				Language: s.Language, Voice: s.Voice, Logger: log, DTMF: dtmf, MachineDetection: machine, Voicemail: eng.Voicemail(started)}.Prepared()
			if err != nil {
				return err // nothing was dialled: a usage error
			}
			cfg, err := sf.config(prompts, log)
			if err != nil {
				return err
			}
			d, err := sip.New(cfg)
			if err != nil {
				return err
			}
			defer d.Close()
			rep := callReport{To: to, CallerID: req.CallerID}
			if err := d.CanDial(to); err != nil {
				return err
			}
			call, err := d.Dial(cmd.Context(), req)
			if err != nil {
				de := dialer.AsDialError(err)
				rep.Disposition, rep.SIPCode, rep.Reason, rep.Error = string(de.Disposition), de.SIPCode, de.Reason, err.Error()
				rep.KeysHeard = []string{}
				return e.report(rep, asJSON)
			}
			out := dialer.RunCall(cmd.Context(), call, eng, dialer.RunOptions{Lead: lead})
			rep.Disposition, rep.SIPCode, rep.Reason, rep.CallID = string(dialer.Answered), 200, "OK", call.ID()
			rep.KeysHeard = out.KeysHeard()
			if rep.KeysHeard == nil {
				rep.KeysHeard = []string{}
			}
			rep.Result, rep.Timeline, rep.EndedBy, rep.DTMFMethod, rep.AMD = &out.Result, out.Timeline, out.EndedBy, out.DTMFMethod, out.AMD
			rep.Transfer, rep.Attestation = out.Transfer, out.Attestation
			if out.AMD.IsMachine() {
				// No questionnaire was played: no outcome to report.
				rep.Disposition, rep.Result = string(dialer.Machine), nil
			}
			if out.Err != nil {
				rep.Error = out.Err.Error()
			}
			return e.report(rep, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&to, "to", "", "whom to call: sip:user@host[:port] or +E164 (with --sip-trunk)")
	fl.StringVar(&scriptName, "script", "", "script file, or the id of a shipped script")
	fl.StringVar(&callerID, "caller-id", "", "number presented to the lead")
	e.bindEnv(fl, "caller-id", "QUALDIAL_CALLER_ID")
	fl.StringVar(&callerName, "caller-name", "", "display name presented")
	fl.DurationVar(&ring, "ring-timeout", 25*time.Second, "how long to let it ring (at least 15s)")
	fl.DurationVar(&maxLen, "max-call-length", 5*time.Minute, "hang up answered calls after this long")
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fl.Var(newChoice(&dtmf, dialer.DTMFAuto, dialer.DTMFModes...), "dtmf",
		"how keys are taken: auto (RFC 4733 events when the far end sends them, else SIP INFO, else tones), rfc4733, info or inband")
	fl.Var(newChoice(&machine, dialer.MachineOff, dialer.MachineOff, dialer.MachineHangup, dialer.MachineMessage), "machine-detection",
		"answering-machine detection: off, hangup (hang up on a machine) or message (leave the script's voicemail after the greeting, then hang up); a machine ends with disposition machine")
	fl.StringArrayVar(&leadKVs, "lead", nil, "a lead field for {{placeholders}}, as name=value (repeatable)")
	fl.StringVar(&logLevel, "log-level", "warn", "log level on stderr")
	e.addSIPFlags(cmd, &sf)
	return cmd
}

// callReport is what "qualdial call" prints. With --json, the result's
// fields (script_id, outcome, class, …) sit at the top level beside
// disposition, sip_code and keys_heard.
type callReport struct {
	To          string
	CallID      string
	Disposition string
	SIPCode     int
	Reason      string
	KeysHeard   []string
	Result      *ivr.Result
	Timeline    []dialer.Event
	EndedBy     string
	DTMFMethod  string
	AMD         *dialer.AMD
	Transfer    *dialer.TransferResult
	// CallerID is the number presented; Attestation its STIR/SHAKEN
	// attestation, when the trunk reported it.
	CallerID    string
	Attestation string
	Error       string
}

func (r callReport) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	if r.Result != nil {
		b, err := json.Marshal(r.Result)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
	}
	m["to"], m["disposition"], m["sip_code"], m["keys_heard"] = r.To, r.Disposition, r.SIPCode, r.KeysHeard
	if r.CallID != "" {
		m["call_id"] = r.CallID
	}
	if r.Reason != "" {
		m["reason"] = r.Reason
	}
	if r.Timeline != nil {
		m["timeline"] = r.Timeline
	}
	if r.EndedBy != "" {
		m["ended_by"] = r.EndedBy
	}
	if r.DTMFMethod != "" {
		m["dtmf_method"] = r.DTMFMethod
	}
	if r.AMD != nil {
		m["amd"] = r.AMD
	}
	if r.Transfer != nil {
		m["transfer"] = r.Transfer
	}
	if r.CallerID != "" {
		m["caller_id"] = r.CallerID
	}
	if r.Attestation != "" {
		m["attestation"] = r.Attestation
	}
	if r.Error != "" {
		m["error"] = r.Error
	}
	return json.Marshal(m)
}

func (e *env) report(r callReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	w := e.stdout
	fmt.Fprintf(w, "disposition  %s", r.Disposition)
	if r.SIPCode != 0 {
		fmt.Fprintf(w, " (SIP %d %s)", r.SIPCode, r.Reason)
	}
	fmt.Fprintln(w)
	if r.Error != "" {
		fmt.Fprintf(w, "error        %s\n", r.Error)
	}
	if r.Attestation != "" {
		fmt.Fprintf(w, "attestation  %s for caller ID %s (STIR/SHAKEN, as the trunk reported it)\n", r.Attestation, r.CallerID)
	}
	if a := r.AMD; a != nil {
		fmt.Fprintf(w, "detection    %s (%s after %d ms)", a.Verdict, a.Cause, a.AfterMS)
		if a.Overruled {
			fmt.Fprint(w, ", overruled: keys were pressed")
		}
		if a.GreetingEnd != "" {
			fmt.Fprintf(w, "; greeting over by %s, message left: %v", a.GreetingEnd, a.MessageLeft)
		}
		fmt.Fprintln(w)
	}
	if r.Result == nil {
		return nil
	}
	for _, ev := range r.Timeline {
		at := ev.At.Format("15:04:05.000")
		switch ev.Kind {
		case "prompt":
			fmt.Fprintf(w, "  %s say   %s\n", at, ev.Text)
		case "keys":
			fmt.Fprintf(w, "  %s press %s (question %s)\n", at, ev.Keys, ev.Question)
		default:
			fmt.Fprintf(w, "  %s %s (question %s) %s\n", at, ev.Kind, ev.Question, ev.Text)
		}
	}
	if len(r.KeysHeard) == 0 {
		fmt.Fprintf(w, "keys heard   none\n")
	} else {
		fmt.Fprintf(w, "keys heard   %s (by %s)\n", strings.Join(r.KeysHeard, ","), orNone(r.DTMFMethod))
	}
	fmt.Fprintf(w, "ended by     %s\n", orNone(r.EndedBy))
	fmt.Fprintf(w, "outcome      %s\nclass        %s (route %s)\ntotal        %d\nwhy          %s\n",
		r.Result.Outcome, r.Result.Class, r.Result.Route, r.Result.Total, r.Result.Explanation.Reason)
	return nil
}

func (e *env) softphoneCommand() *cobra.Command {
	var (
		listen, keys, personasFile, dtmf, answer string
		attestation                              string
		code                                     int
		ring                                     time.Duration
		username, password, recordDir            string
	)
	cmd := &cobra.Command{
		Use:   "softphone --listen ADDR",
		Short: "Run a test lead phone that answers and presses keys by persona",
		Long: `Run a SIP softphone that plays leads: it answers (or rejects, or lets ring) and
presses keys — by RFC 4733, SIP INFO or in-band tones. --keys is one item per
prompt: keys to press when it ends (1, 120#), ~keys to press during it, timeout, or
hangup. A --personas YAML file maps dialled numbers to behaviours, so one softphone
can be a whole call list:

  "+15550001": {keys: "1,1,1,1,120#,1"}
  "+15550002": {answer: reject, code: 486}
  "+15550003": {answer: noanswer}
  "+15550004": {keys: "1,2", attestation: B}
  default: {keys: "9"}

It runs until interrupted and prints each call when it ends.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if attestation != "" && dialer.Attestation(attestation) == "" {
				return fmt.Errorf("--attestation %q: use A, B or C", attestation)
			}
			cfg := softphone.Config{ListenAddr: listen, Username: username, Password: password, RecordDir: recordDir,
				Default: softphone.Persona{Answer: answer, Code: code, Keys: keys, DTMF: dtmf, Ring: ring, Attestation: attestation}}
			if personasFile != "" {
				ps, err := softphone.LoadPersonas(personasFile)
				if err != nil {
					return err
				}
				cfg.Personas = ps
			}
			p, err := softphone.Start(cfg)
			if err != nil {
				return err
			}
			defer p.Close()
			fmt.Fprintf(e.stdout, "softphone listening on %s (dial sip:<number>@%s)\n", p.Addr(), p.Addr())
			return e.watchCalls(cmd.Context(), p)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", "127.0.0.1:5070", "SIP UDP address to listen on")
	fl.StringVar(&keys, "keys", "", "what to press at each prompt, e.g. 1,1,120#,timeout,hangup")
	fl.StringVar(&personasFile, "personas", "", "YAML file mapping dialled numbers to personas")
	fl.StringVar(&dtmf, "dtmf", softphone.DTMFRFC4733, "how to send keys: rfc4733, info or inband")
	fl.StringVar(&answer, "answer", "answer", "answer, reject or noanswer")
	fl.IntVar(&code, "code", 486, "SIP code for --answer reject")
	fl.DurationVar(&ring, "ring", 500*time.Millisecond, "how long to ring before answering")
	fl.StringVar(&attestation, "attestation", "", "answer as a trunk that reports STIR/SHAKEN: an Identity header with a PASSporT at A, B or C")
	fl.StringVar(&username, "username", "", "demand digest auth with this username")
	fl.StringVar(&password, "password", "", "and this password")
	fl.StringVar(&recordDir, "record", "", "directory for a WAV file of what each call heard")
	return cmd
}

func (e *env) watchCalls(ctx context.Context, p *softphone.Phone) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	printed := 0
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		calls := p.Calls()
		for ; printed < len(calls) && !calls[printed].Ended.IsZero(); printed++ {
			c := calls[printed]
			state := "rejected or unanswered"
			switch {
			case c.Canceled:
				state = "canceled by the caller"
			case c.Answered:
				state = "answered, hung up by " + c.ByeFrom
			}
			fmt.Fprintf(e.stdout, "call to %s: %s; pressed %s; %.1fs", c.User, state, strings.Join(c.Pressed, ","), c.Ended.Sub(c.Started).Seconds())
			if c.File != "" {
				fmt.Fprintf(e.stdout, "; heard %s", c.File)
			}
			fmt.Fprintln(e.stdout)
		}
	}
}

func (e *env) promptsCommand() *cobra.Command {
	cmd := group(&cobra.Command{Use: "prompts", Short: "Render script prompts to audio"})
	var out string
	render := &cobra.Command{
		Use:   "render FILE…",
		Short: "Render every text of the scripts to speech with espeak-ng",
		Long: `Render every text a script can say (as said to a lead without personal fields) to
8 kHz G.711 audio with espeak-ng, into --out in the layout calls read (voice/hash.ul).
Texts already rendered are skipped. Shipped scripts are rendered into scripts/prompts.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src := &prompt.Source{}
			rendered, skipped := 0, 0
			for _, name := range args {
				file, s, err := e.loadScript(name)
				if err != nil {
					return err
				}
				voice := prompt.Voice(s.Language, s.Voice)
				for _, text := range s.Texts() {
					path := filepath.Join(out, filepath.FromSlash(prompt.StorePath(voice, text)))
					if _, err := os.Stat(path); err == nil {
						skipped++
						continue
					}
					pcm, err := src.Speak(cmd.Context(), text, s.Language, s.Voice)
					if err != nil {
						return err
					}
					if err := prompt.Store(out, voice, text, pcm); err != nil {
						return err
					}
					rendered++
				}
				fmt.Fprintf(e.stdout, "%s: %d texts in voice %s\n", file, len(s.Texts()), voice)
			}
			fmt.Fprintf(e.stdout, "rendered %d, already there %d, into %s\n", rendered, skipped, out)
			return nil
		},
	}
	render.Flags().StringVar(&out, "out", "prompts", "directory to render into")
	cmd.AddCommand(render)
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
