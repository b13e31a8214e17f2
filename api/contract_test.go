package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/qualdial/qualdial/api/internal/apiclient"
	"github.com/qualdial/qualdial/store"
)

// TestOpenAPIDocumentIsExact: every operation has a unique operationId and
// the roles that may use it (x-roles), which are the roles the server lets
// in; every enum value is quoted (a YAML 1.1 reader takes a bare off for
// false, which broke every campaign response in generated clients); and the
// document uses no anchors or merge keys, which generators read
// differently.
func TestOpenAPIDocumentIsExact(t *testing.T) {
	t.Parallel()
	b := setup(t)
	data, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Anchor != "" || n.Kind == yaml.AliasNode {
			t.Errorf("line %d: an anchor or alias (%s): write it out", n.Line, n.Anchor+n.Value)
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Value == "<<" {
					t.Errorf("line %d: a merge key", k.Line)
				}
				if k.Value == "enum" && v.Kind == yaml.SequenceNode {
					for _, e := range v.Content {
						if e.Style != yaml.DoubleQuotedStyle && e.Style != yaml.SingleQuotedStyle {
							t.Errorf("line %d: enum value %s is not quoted", e.Line, e.Value)
						}
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)

	var spec struct {
		Paths map[string]map[string]struct {
			OperationID string              `yaml:"operationId"`
			Roles       []string            `yaml:"x-roles"`
			Security    *[]map[string]any   `yaml:"security"`
			Responses   map[string]struct{} `yaml:"responses"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	roles := []string{store.RoleAdmin, store.RoleMarketing, store.RoleSales, store.RoleIntake}
	sample := strings.NewReplacer("{id}", "999999", "{campaign}", "no-such-campaign", "{import}", "999999", "{phone}", "+12125550000")
	for p, ops := range spec.Paths {
		for method, op := range ops {
			what := strings.ToUpper(method) + " " + p
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", what)
			} else if other, dup := ids[op.OperationID]; dup {
				t.Errorf("%s: operationId %s is also %s's", what, op.OperationID, other)
			}
			ids[op.OperationID] = what
			if len(op.Roles) == 0 {
				t.Errorf("%s: no x-roles", what)
			}
			if _, ok := op.Responses["default"]; !ok {
				t.Errorf("%s: no default (problem) response", what)
			}
			if op.Security != nil && len(*op.Security) == 0 {
				continue // public
			}
			// The server lets in exactly the documented roles.
			for _, role := range roles {
				res := b.raw(t, strings.ToUpper(method), sample.Replace(p), role, "", nil)
				refused := res.status == http.StatusForbidden && strings.Contains(string(res.body), "may not use this endpoint")
				if refused == slices.Contains(op.Roles, role) {
					t.Errorf("%s: x-roles %v, but role %s gets %d %s", what, op.Roles, role, res.status, res.body)
				}
			}
		}
	}
}

// TestGeneratedClientIsCurrent: the Go client generated from openapi.yaml
// by oapi-codegen (a tool dependency) is the one checked in — so a change
// of the document that breaks generation, or is not regenerated, fails.
func TestGeneratedClientIsCurrent(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	// The checked-in settings, writing elsewhere.
	cfg, err := os.ReadFile("internal/apiclient/oapi-codegen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "apiclient.gen.go")
	cfg = regexp.MustCompile(`(?m)^output: .*$`).ReplaceAll(cfg, []byte("output: "+out))
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "tool", "oapi-codegen", "-config", filepath.Join(dir, "config.yaml"), "openapi.yaml")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openapi.yaml no longer generates a client: %v\n%s", err, msg)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("internal/apiclient/apiclient.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("internal/apiclient is out of date with openapi.yaml: run go generate ./api/...")
	}
}

func ptr[T any](v T) *T { return &v }

// TestGeneratedClientFlow drives a real server through the generated
// client: create and start a campaign, post a web-form lead, claim it as a
// rep once its call routed it to sales, read it back, and write the
// campaign back exactly as GET returned it.
func TestGeneratedClientFlow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	as := func(role string) *apiclient.ClientWithResponses {
		c, err := apiclient.NewClientWithResponses(b.srv.URL, apiclient.WithRequestEditorFn(func(ctx context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+b.keys[role])
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	mkt, web, rep := as(store.RoleMarketing), as(store.RoleIntake), as(store.RoleSales)

	created, err := mkt.CreateCampaignWithResponse(ctx, apiclient.CampaignCreate{Name: "generated", ScriptId: ptr("bant-en"), CallerId: "+15550100",
		CallerName: ptr("Acme Software"), RequireConsent: ptr(true), MachineDetection: ptr(apiclient.CampaignCreateMachineDetection("off")),
		Window: &apiclient.Window{Days: &[]int{1, 2, 3, 4, 5, 6, 7}, Start: ptr("08:00"), End: ptr("21:00")},
		Retry:  &apiclient.Retry{Busy: ptr("15m"), Machine: ptr("2h")}, CallsPerSecond: ptr(2.5)})
	if err != nil || created.JSON201 == nil {
		t.Fatalf("create campaign: %v %d %s", err, created.StatusCode(), created.Body)
	}
	if c := created.JSON201; c.MachineDetection != "off" || c.Status != "draft" || c.AllowedCountries != nil || c.CallsPerSecond != 2.5 {
		t.Errorf("created %+v", c)
	}
	started, err := mkt.StartCampaignWithResponse(ctx, "generated")
	if err != nil || started.JSON200 == nil || started.JSON200.Status != apiclient.CampaignStatus("active") {
		t.Fatalf("start: %v %s", err, started.Body)
	}

	// The README's web form, through the generated form encoder.
	lead, err := web.CreateLeadWithFormdataBodyWithResponse(ctx, &apiclient.CreateLeadParams{IdempotencyKey: ptr("form-7f3a")}, apiclient.LeadForm{
		Campaign: ptr("generated"), Phone: ptr("(212) 555-0123"), Name: ptr("Ann Lee"), ConsentText: ptr("I agree to be called about my demo"),
		ConsentIp: ptr("203.0.113.9"), AdditionalProperties: map[string]string{"page_url": "https://acme.example/demo"}})
	if err != nil || lead.JSON202 == nil {
		t.Fatalf("create lead: %v %d %s", err, lead.StatusCode(), lead.Body)
	}
	l := lead.JSON202.Lead
	if !l.HasConsent || l.Phone != "+12125550123" || lead.JSON202.Dial.Status == "blocked" || l.FirstName == nil || *l.FirstName != "Ann" {
		t.Errorf("lead %+v, dial %+v", l, lead.JSON202.Dial)
	}
	again, err := web.CreateLeadWithFormdataBodyWithResponse(ctx, &apiclient.CreateLeadParams{IdempotencyKey: ptr("form-7f3a")}, apiclient.LeadForm{
		Campaign: ptr("generated"), Phone: ptr("(212) 555-0123"), Name: ptr("Ann Lee"), ConsentText: ptr("I agree to be called about my demo"),
		ConsentIp: ptr("203.0.113.9"), AdditionalProperties: map[string]string{"page_url": "https://acme.example/demo"}})
	if err != nil || again.JSON202 == nil || again.JSON202.Lead.Id != l.Id || !again.JSON202.Created { // the first answer again
		t.Errorf("retry: %v %d %s", err, again.StatusCode(), again.Body)
	}

	// Its call went well: it is sales-ready; a rep claims it.
	b.salesReady(t, created.JSON201.Id, l.Id, l.Phone, 24*time.Hour)
	claim, err := rep.ClaimNextLeadWithResponse(ctx, &apiclient.ClaimNextLeadParams{Campaign: ptr("generated")})
	if err != nil || claim.JSON200 == nil || claim.JSON200.Lead.Id != l.Id {
		t.Fatalf("claim: %v %d %s", err, claim.StatusCode(), claim.Body)
	}
	got, err := rep.GetLeadWithResponse(ctx, l.Id)
	if err != nil || got.JSON200 == nil {
		t.Fatalf("get lead: %v %s", err, got.Body)
	}
	if g := got.JSON200; g.Lead.SalesStage == nil || *g.Lead.SalesStage != "accepted" || g.Lead.AssignedTo == nil ||
		*g.Lead.AssignedTo != b.userID(t, store.RoleSales) || len(g.Attempts) != 1 || len(g.Attempts[0].Answers) == 0 {
		t.Errorf("lead as the rep sees it: %s", got.Body)
	}
	list, err := rep.ListLeadsWithResponse(ctx, &apiclient.ListLeadsParams{Mine: ptr(true), Stage: ptr(apiclient.SalesStage("accepted"))})
	if err != nil || list.JSON200 == nil || len(list.JSON200.Leads) != 1 {
		t.Errorf("my leads: %v %s", err, list.Body)
	}

	// Read the campaign and write it back unchanged: as raw JSON, and as
	// the generated update type.
	before, err := mkt.GetCampaignWithResponse(ctx, "generated")
	if err != nil || before.JSON200 == nil {
		t.Fatalf("get campaign: %v %s", err, before.Body)
	}
	same := func(what string, body []byte) {
		t.Helper()
		var x, y any
		_ = json.Unmarshal(before.Body, &x)
		_ = json.Unmarshal(body, &y)
		if !reflect.DeepEqual(x, y) {
			t.Errorf("%s changed the campaign:\n%s\n%s", what, before.Body, body)
		}
	}
	back, err := mkt.UpdateCampaignWithBodyWithResponse(ctx, "generated", "application/json", bytes.NewReader(before.Body))
	if err != nil || back.JSON200 == nil {
		t.Fatalf("PATCH with GET's body: %v %d %s", err, back.StatusCode(), back.Body)
	}
	same("PATCH with GET's body", back.Body)
	var upd apiclient.CampaignUpdate
	if err := json.Unmarshal(before.Body, &upd); err != nil {
		t.Fatal(err)
	}
	typed, err := mkt.UpdateCampaignWithResponse(ctx, "generated", upd)
	if err != nil || typed.JSON200 == nil {
		t.Fatalf("PATCH with CampaignUpdate: %v %d %s", err, typed.StatusCode(), typed.Body)
	}
	same("PATCH with CampaignUpdate", typed.Body)
	upd.Name = ptr("renamed")
	if res, err := mkt.UpdateCampaignWithResponse(ctx, "generated", upd); err != nil || res.StatusCode() != 422 {
		t.Errorf("PATCH of a read-only field: %v %d %s", err, res.StatusCode(), res.Body)
	}
}
