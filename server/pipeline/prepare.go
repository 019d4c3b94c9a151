package pipeline

import (
	"context"
	"net/http"
	"time"

	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/store"
	"google.golang.org/protobuf/proto"
)

// Prepared is a decoded resource that passed the business rules and is
// ready to be written.
type Prepared struct {
	Res      proto.Message
	Type, ID string
	Index    store.Index
	Warnings []oo.Issue
	plain    func(int64, time.Time) []byte // see Planned.Written
}

// Recorder is told of every resource a write attempt carries, before it is
// validated, so that rejected resources are audited too. It reads them
// when the attempt ends, after their id and subject are final.
type Recorder interface {
	Carried(*Prepared)
}

// Committer is a Recorder that stores its record in the same commit as
// the write it records, when that write is the whole attempt (a single
// PUT, POST or DELETE): an acknowledged write then always has its audit
// record, and the two cost one commit.
type Committer interface {
	Recorder
	// InCommit returns the change that stores the record of plans, or false
	// when the record waits for the end of the attempt (a Bundle, a batch,
	// a record already written).
	InCommit(plans []*Planned) (store.Change, bool)
	// Committed says that the change InCommit last returned was written.
	Committed()
}

type recorderKey struct{}

// WithRecorder makes rec the Recorder of the writes done with ctx.
func WithRecorder(ctx context.Context, rec Recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, rec)
}

func noteCarried(ctx context.Context, p *Prepared) {
	if rec, ok := ctx.Value(recorderKey{}).(Recorder); ok {
		rec.Carried(p)
	}
}

// prepare runs the business rules of the resource's type and extracts its
// index. Rule violations give a 422 OperationOutcome with every issue.
func (p *Pipeline) prepare(ctx context.Context, res proto.Message) (*Prepared, error) {
	pr := &Prepared{Res: res, Type: ResourceType(res), ID: ResourceID(res), Index: ExtractIndex(res)}
	noteCarried(ctx, pr)
	issues, err := p.validate(ctx, pr)
	if err != nil {
		return nil, err
	}
	issues = append(issues, checkNarratives(res)...)
	if oo.HasProblems(issues) {
		return nil, oo.New(http.StatusUnprocessableEntity, issues...)
	}
	pr.Warnings = issues
	if pr.Type != "MeasureReport" {
		// Definitions are small and rarely written: hash them so a reload of
		// the same content is not a new version.
		pr.Index.ContentHash = contentHash(res, p.opts.Encode)
	}
	return pr, nil
}

// change turns a prepared resource into a store change. It encodes the
// body now (see render.go), so it must come after every decision that
// changes the resource (such as the id a resubmitted report takes). With
// hash, the change's Index.ContentHash is that of the encoded body.
func (p *Pipeline) change(pr *Prepared, hash bool) (store.Change, error) {
	r, err := p.preRender(pr.Res, hash)
	if err != nil {
		return store.Change{}, err
	}
	if hash {
		pr.Index.ContentHash = r.sum
	}
	pr.plain = r.plain
	render := r.render
	return store.Change{Type: pr.Type, ID: pr.ID, Index: pr.Index, Render: render}, nil
}
