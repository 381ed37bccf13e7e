#pragma once
// checked_dataplane: a backend with IPVS's value checks and its own
// capabilities enforced in front of it (ipvs_checks.h). Every add or edit
// of a change set is checked before the set reaches inner, so what IPVS
// would refuse, or the backend cannot do (EOPNOTSUPP with the reason), is
// refused with nothing written.
//
// Interim: the XDP backend's apply() makes neither check yet (its table is
// being rebuilt on memory_dataplane, which makes both). Private to libxlb:
// open_dataplane() is its only user.

#include <xlb/dataplane/dataplane.h>

#include <memory>

namespace xlb {

class checked_dataplane final : public dataplane {
public:
    explicit checked_dataplane(std::unique_ptr<dataplane> inner) : _inner(std::move(inner)) {}

    [[nodiscard]] const capabilities& caps() const noexcept override { return _inner->caps(); }
    apply_result apply(const change_set& changes) override;
    [[nodiscard]] result<std::vector<service_state>> list() const override { return _inner->list(); }
    [[nodiscard]] result<timeouts> get_timeouts() const override { return _inner->get_timeouts(); }
    [[nodiscard]] result<std::vector<conn_state>> list_conns() const override { return _inner->list_conns(); }
    [[nodiscard]] uint32_t conn_table_size() const override { return _inner->conn_table_size(); }
    [[nodiscard]] result<std::vector<reason_report>> verdicts() const override { return _inner->verdicts(); }
    [[nodiscard]] result<status_report> report() const override { return _inner->report(); }

private:
    std::unique_ptr<dataplane> _inner;
};

} // namespace xlb
