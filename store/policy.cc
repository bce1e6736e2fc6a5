// The stored retention policy and its application inside a commit batch (retention.h). The decision
// itself is the pure DecideRetention; this file only reads, stores and applies it.
#include "store/keys.h"
#include "store/store_impl.h"

namespace ckptdb {

Result<RetentionPolicy> StoreImpl::GetRetention() {
  Reading read = BeginRead();
  return RetentionAt(read.at());
}

Result<RetentionPolicy> StoreImpl::RetentionAt(const DbSnapshot* at) {
  auto raw = db_->GetMeta(keys::kPolicy, at);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return RetentionPolicy{};
  auto p = schema::DecodeRetentionPolicy(**raw);
  if (!p.ok()) return p.status().WithContext("store " + path_);
  return p;
}

Status StoreImpl::SetRetention(const RetentionPolicy& policy) {
  if (Status s = CheckWritable(); !s.ok()) return s;
  if (Status s = ValidateRetentionPolicy(policy); !s.ok()) return s.WithContext("store " + path_);
  std::lock_guard<std::mutex> lock(save_mu_);  // a save applies the policy it read under this lock
  CommitBatch batch;
  batch.meta_puts.emplace_back(std::string(keys::kPolicy), schema::EncodeRetentionPolicy(policy));
  return db_->Commit(batch).WithContext("store " + path_ + ", storing the retention policy");
}

std::vector<CheckpointInfo> RetireInto(const RetentionPolicy& policy, std::vector<CheckpointInfo>& all,
                                       CheckpointId head, CommitBatch& batch,
                                       std::optional<CheckpointId> written_by_caller) {
  const std::vector<CheckpointInfo>& infos = all;
  std::set<CheckpointId> victims;
  std::vector<CheckpointInfo> removed;
  const auto decisions = DecideRetention(policy, infos, head);
  for (size_t i = 0; i < decisions.size(); ++i)
    if (!decisions[i].keep()) {
      victims.insert(decisions[i].id);
      removed.push_back(infos[i]);
    }
  // PruneInto edits `all` (= `infos`): done with the decisions first.
  if (!victims.empty()) PruneInto(all, victims, batch, written_by_caller);
  return removed;
}

}  // namespace ckptdb
