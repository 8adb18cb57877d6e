#include "parallel/grad_sync.h"

#include <algorithm>
#include <map>
#include <utility>

#include "core/autograd.h"
#include "core/error.h"
#include "absl/strings/str_cat.h"
#include "core/ops.h"
#include "core/phase_timer.h"

namespace moe::parallel {

comm::Communicator& grad_sum_group(Mesh& mesh, ParamClass cls) {
  switch (cls) {
    case ParamClass::replicated:
      return mesh.world();
    case ParamClass::tp_sharded:
      return mesh.dp();
    case ParamClass::expert:
      return mesh.edp();
  }
  MOE_CHECK(false, "grad_sum_group: unknown parameter class ", int(cls));
}

std::vector<GradBucket> plan_grad_buckets(const std::vector<ClassedParam>& params, int64_t bucket_bytes) {
  MOE_CHECK(bucket_bytes > 0, "GradSync: bucket size must be > 0 bytes, got ", bucket_bytes);
  std::vector<GradBucket> buckets;
  std::map<std::pair<int, int>, size_t> open;  // (class, dtype) -> its open bucket
  for (size_t k = params.size(); k-- > 0;) {
    const ClassedParam& p = params[k];
    const DType dt = p.param.dtype();
    const int64_t n = p.param.numel();
    const int64_t bytes = n * int64_t(dtype_size(dt));
    const auto key = std::make_pair(int(p.cls), int(dt));
    auto it = open.find(key);
    if (it == open.end() ||
        (!buckets[it->second].params.empty() &&
         (buckets[it->second].numel * int64_t(dtype_size(dt)) + bytes > bucket_bytes))) {
      GradBucket b;
      b.cls = p.cls;
      b.dtype = dt;
      buckets.push_back(std::move(b));
      open[key] = buckets.size() - 1;
      it = open.find(key);
    }
    GradBucket& b = buckets[it->second];
    b.params.push_back(k);
    b.offsets.push_back(b.numel);
    b.numel += n;
  }
  return buckets;
}

namespace {

uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string describe(const ClassedParam& p) {
  return absl::StrCat("'", p.name, "' ", dtype_name(p.param.dtype()), shape_str(p.param.shape()));
}

// All-gathers one i64 per rank of `group`.
std::vector<int64_t> gather_i64(comm::Communicator& group, const std::vector<int64_t>& mine) {
  Tensor t = empty({int64_t(mine.size())}, DType::i64);
  std::copy(mine.begin(), mine.end(), t.data<int64_t>());
  Tensor all = group.all_gather(t, 0);
  const int64_t* d = all.data<int64_t>();
  return std::vector<int64_t>(d, d + all.numel());
}

}  // namespace

void check_same_params_in_groups(Mesh& mesh, const std::vector<ClassedParam>& params, const char* who) {
  for (ParamClass cls : {ParamClass::replicated, ParamClass::tp_sharded, ParamClass::expert}) {
    comm::Communicator& group = grad_sum_group(mesh, cls);
    std::vector<const ClassedParam*> mine;
    std::vector<int64_t> hashes;
    uint64_t all_hash = 0;
    for (const ClassedParam& p : params) {
      if (p.cls != cls) continue;
      mine.push_back(&p);
      hashes.push_back(int64_t(fnv1a(describe(p))));
      all_hash = fnv1a(std::to_string(hashes.back()), all_hash);
    }
    if (group.size() == 1) continue;
    const int64_t g = group.size();
    const std::vector<int64_t> summary = gather_i64(group, {int64_t(mine.size()), int64_t(all_hash)});
    bool same = true;
    int64_t longest = 0;
    for (int64_t r = 0; r < g; ++r) {
      same = same && summary[size_t(2 * r)] == summary[0] && summary[size_t(2 * r + 1)] == summary[1];
      longest = std::max(longest, summary[size_t(2 * r)]);
    }
    if (same) continue;
    // Every rank saw the mismatch: one more gather finds the first difference.
    std::vector<int64_t> padded(size_t(longest), 0);
    std::copy(hashes.begin(), hashes.end(), padded.begin());
    const std::vector<int64_t> all = gather_i64(group, padded);
    int64_t bad_rank = -1, bad_pos = -1;
    for (int64_t k = 0; k < longest && bad_rank < 0; ++k)
      for (int64_t r = 1; r < g && bad_rank < 0; ++r)
        if (all[size_t(r * longest + k)] != all[size_t(k)]) bad_rank = r, bad_pos = k;
    const std::string here = bad_pos >= 0 && bad_pos < int64_t(mine.size()) ? describe(*mine[size_t(bad_pos)])
                                                                              : std::string("(none)");
    MOE_CHECK(false, who, ": the ", param_class_name(cls), " parameters differ between the ranks of group '",
              group.name(), "': group rank ", bad_rank, " has ", summary[size_t(2 * bad_rank)],
              ", group rank 0 has ", summary[0], "; first difference at position ", bad_pos,
              ", where this rank (group rank ", group.rank(), ") has ", here);
  }
}

namespace {

// Copies the gradient of `p` (zeros if none) into `slot`, a flat view of
// p.numel() elements of the bucket's dtype on the parameters' device.
void pack_grad(const ClassedParam& p, Tensor slot) {
  const Tensor g = p.param.grad();
  if (!g.defined()) {
    fill_(slot, 0.0);
    return;
  }
  MOE_CHECK(g.shape() == p.param.shape(), "GradSync: gradient of '", p.name, "' has shape ", shape_str(g.shape()),
            ", the parameter ", shape_str(p.param.shape()));
  copy_(slot, reshape(g, {-1}));  // casts to the bucket's dtype
}

// Writes `slot` into p's .grad: in place when the gradient is a contiguous
// tensor of the right dtype, else a new one.
void unpack_grad(ClassedParam& p, const Tensor& slot) {
  Tensor g = p.param.grad();
  if (!g.defined() || !g.is_contiguous() || g.dtype() != slot.dtype() || g.shape() != p.param.shape()) {
    g = empty(p.param.shape(), slot.dtype(), slot.device());
    p.param.set_grad(g);
  }
  Tensor flat = reshape(g, {-1});
  copy_(flat, slot);
  g.bump_version();
}

// flat /= by, element by element in its dtype.
void divide(Tensor& flat, int64_t by) {
  if (by == 1) return;
  copy_(flat, div(flat, full({}, double(by), flat.dtype(), flat.device())));
}

}  // namespace

struct GradSync::State {
  Mesh* mesh = nullptr;
  GradSyncOptions options;
  std::vector<ClassedParam> params;
  std::vector<GradBucket> buckets;
  std::vector<size_t> bucket_of, slot_of;  // per parameter
  std::vector<Tensor> flat;                // per bucket, allocated once
  std::vector<std::unique_ptr<comm::Work>> work;
  // Per step:
  std::vector<char> ready;       // per parameter: packed into its bucket
  std::vector<int64_t> pending;  // per bucket: parameters not ready yet
  size_t next_start = 0;         // buckets [0, next_start) have been started
  size_t next_poll = 0;          // first started bucket not known to be done
  bool sync_enabled = true;

  // Parameter i's elements of its bucket.
  Tensor slot(size_t i) {
    const GradBucket& b = buckets[bucket_of[i]];
    return narrow(flat[bucket_of[i]], 0, b.offsets[slot_of[i]], params[i].param.numel());
  }

  void reset() {
    std::fill(ready.begin(), ready.end(), 0);
    for (size_t b = 0; b < buckets.size(); ++b) pending[b] = int64_t(buckets[b].params.size());
    next_start = next_poll = 0;
    sync_enabled = true;
  }

  void start(size_t b) {
    comm::Communicator& group = grad_sum_group(*mesh, buckets[b].cls);
    if (group.size() > 1) {
      work[b] = group.all_reduce_async(flat[b], comm::ReduceOp::sum);
      prof::add_bytes(prof::Phase::grad_sync, flat[b].numel() * int64_t(dtype_size(flat[b].dtype())));
    }
  }

  // Starts, in bucket order, every bucket whose parameters are all ready.
  void start_ready_buckets() {
    while (next_start < buckets.size() && pending[next_start] == 0) start(next_start++);
  }

  // Lets the communication library progress the reductions in flight (MPI
  // progresses nonblocking collectives only inside its calls).
  void poll() {
    while (next_poll < next_start && (!work[next_poll] || work[next_poll]->done())) ++next_poll;
    for (size_t b = next_poll + 1; b < next_start; ++b)
      if (work[b]) work[b]->done();
  }

  void on_ready(size_t i) {
    if (!sync_enabled) return;
    const ClassedParam& p = params[i];
    MOE_CHECK(!ready[i], "GradSync: '", p.name, "' received a second gradient in a step after it was marked ",
              "final (a second backward with sync enabled? call set_sync_enabled(false) before all but the last ",
              "micro-batch)");
    MOE_CHECK(bucket_of[i] >= next_start, "GradSync: '", p.name,
              "' received its gradient after its bucket was started");
    pack_grad(p, slot(i));
    ready[i] = 1;
    --pending[bucket_of[i]];
    start_ready_buckets();
    poll();
  }

  void finish() {
    // Buckets not started yet: their missing parameters contribute what they
    // hold now (earlier micro-batches' gradients, or zeros).
    for (size_t b = next_start; b < buckets.size(); ++b) {
      for (size_t s = 0; s < buckets[b].params.size(); ++s) {
        const size_t i = buckets[b].params[s];
        if (!ready[i]) pack_grad(params[i], slot(i));
      }
      start(b);
    }
    next_start = buckets.size();
    const int64_t dp = mesh->sizes().dp();
    for (size_t b = 0; b < buckets.size(); ++b) {
      if (work[b]) {
        work[b]->wait();
        work[b].reset();
      }
      divide(flat[b], dp);
      for (size_t s = 0; s < buckets[b].params.size(); ++s) {
        const size_t i = buckets[b].params[s];
        unpack_grad(params[i], slot(i));
      }
    }
    reset();
  }
};

GradSync::GradSync(Mesh& mesh, std::vector<ClassedParam> params, GradSyncOptions options)
    : state_(std::make_shared<State>()) {
  State& st = *state_;
  st.mesh = &mesh;
  st.options = options;
  for (const ClassedParam& p : params) {
    MOE_CHECK(p.param.defined(), "GradSync: parameter '", p.name, "' is undefined");
    MOE_CHECK(p.param.dtype() == DType::f32 || p.param.dtype() == DType::f64, "GradSync: parameter '", p.name,
              "' is ", p.param.str(), "; gradients are synchronised in f32 or f64");
    MOE_CHECK(p.param.device() == params.front().param.device(), "GradSync: parameter '", p.name, "' is ",
              p.param.str(), ", parameter '", params.front().name, "' ", params.front().param.str(),
              "; all must share one device");
    MOE_CHECK(!options.overlap || (p.param.requires_grad() && p.param.is_leaf()), "GradSync: parameter '", p.name,
              "' is not a leaf that requires grad");
  }
  check_same_params_in_groups(mesh, params, "GradSync");
  st.params = std::move(params);
  st.buckets = plan_grad_buckets(st.params, options.bucket_bytes);
  st.bucket_of.assign(st.params.size(), 0);
  st.slot_of.assign(st.params.size(), 0);
  for (size_t b = 0; b < st.buckets.size(); ++b) {
    for (size_t s = 0; s < st.buckets[b].params.size(); ++s) {
      st.bucket_of[st.buckets[b].params[s]] = b;
      st.slot_of[st.buckets[b].params[s]] = s;
    }
    st.flat.push_back(zeros({st.buckets[b].numel}, st.buckets[b].dtype, st.params.front().param.device()));
  }
  st.work.resize(st.buckets.size());
  st.ready.assign(st.params.size(), 0);
  st.pending.assign(st.buckets.size(), 0);
  st.reset();
  if (options.overlap) {
    std::weak_ptr<State> weak = state_;
    for (size_t i = 0; i < st.params.size(); ++i)
      hook_handles_.push_back(register_post_accumulate_hook(st.params[i].param, [weak, i](const Tensor&) {
        if (auto s = weak.lock()) s->on_ready(i);
      }));
  }
}

GradSync::~GradSync() {
  for (size_t i = 0; i < hook_handles_.size(); ++i)
    remove_post_accumulate_hook(state_->params[i].param, hook_handles_[i]);
  // Reductions still in flight must complete before their buffers go away.
  for (auto& w : state_->work)
    if (w) w->wait();
}

void GradSync::set_sync_enabled(bool enabled) { state_->sync_enabled = enabled; }
bool GradSync::sync_enabled() const { return state_->sync_enabled; }
void GradSync::finish() { state_->finish(); }
const std::vector<ClassedParam>& GradSync::params() const { return state_->params; }
const std::vector<GradBucket>& GradSync::buckets() const { return state_->buckets; }
int64_t GradSync::buckets_started() const { return int64_t(state_->next_start); }

std::vector<double> all_reduce_load_counts(Mesh& mesh, std::vector<double> counts) {
  // Every rank routes its own tokens (sequence parallelism gives TP ranks
  // distinct ones); the bias update needs the global load.
  return comm::all_reduce_values(mesh.world(), std::move(counts), comm::ReduceOp::sum);
}

}  // namespace moe::parallel
