"""Data-quality issues, placed where they cannot change a finding: in rows and households no
rule injection touched, or in rows of the extracts the rules never look at."""

from __future__ import annotations

import polars as pl

from config.schema import LABOUR_CAPABLE

from ..roster import Raw, foreign_copy
from ..world import DibaoRow
from .base import Injection, InjectorBase, IssueRef, _mistype, rec_ok


class IssueInjections(InjectorBase):
    """Every kind of config.schema.ISSUE_KINDS, in the roster and in the extracts."""

    # ------------------------------------------------------------ data-quality issues (roster)

    def roster_issues(self) -> None:
        self._required_missing()
        self._invalid_values()
        self._sex_mismatch()
        self._village_not_in_township()
        self._household_issues()
        self._foreign_rows()

    def _required_missing(self) -> None:
        n = self.issue_count("required_missing")
        kinds = self.variants(("relation", "labour", "village", "attribute", "income"), n)
        for kind in kinds:
            if kind == "relation":
                for row, rec in self._free_rows(lambda r, h: r.relation != "户主", 1):
                    row.relation = ""
                    self.issue("required_missing", "与户主关系", rec, row)
            elif kind == "labour":
                for row, rec in self._free_rows(
                    lambda r, h: r.labour not in LABOUR_CAPABLE and r.relation != "户主", 1
                ):
                    row.labour = ""
                    self.issue("required_missing", "劳动技能", rec, row)
            elif kind == "village":
                for row, rec in self._free_rows(lambda r, h: r.relation != "户主", 1):
                    row.village = ""
                    self.issue("required_missing", "行政村", rec, row)
            elif kind == "attribute":
                for rec in self.households(lambda h: self.ordinary(h), 1):
                    rec.attribute = ""
                    self.issue("required_missing", "贫困户属性", rec)
            else:
                for rec in self.households(
                    lambda h: (
                        not self.exited(h) and h.exit_status != "已脱贫" and self._untouched(h)
                    ),
                    1,
                ):
                    rec.income = Raw("")
                    self.issue("required_missing", "年人均可支配收入", rec)

    def _invalid_values(self) -> None:
        n = self.issue_count("invalid_value")
        for i, kind in enumerate(self.variants(("health", "relation", "school", "housing"), n)):
            if kind == "health":
                # 健康状况 is optional: only a township whose clerk writes the column can get it wrong
                for row, rec in self._free_rows(
                    lambda r, h: "health" in [c.key for c in self.styles[h.township_code].columns],
                    1,
                ):
                    row.health = ("良好", "一般", "较差")[i % 3]
                    self.issue("invalid_value", "健康状况", rec, row)
            elif kind == "relation":
                for row, rec in self._free_rows(
                    lambda r, h: r.relation in ("之子", "之女", "之孙子", "之孙女"), 1
                ):
                    row.relation = {
                        "之子": "儿子",
                        "之女": "女儿",
                        "之孙子": "孙子",
                        "之孙女": "孙女",
                    }[row.relation]
                    self.issue("invalid_value", "与户主关系", rec, row)
            elif kind == "school":
                for row, rec in self._free_rows(
                    lambda r, h: r.school in ("七年级", "八年级", "九年级"), 1
                ):
                    row.school = "初中"
                    self.issue("invalid_value", "在校生状况", rec, row)
            else:
                for rec in self.households(
                    lambda h: h.housing in ("安全", "已改造") and self._untouched(h), 1
                ):
                    rec.housing = "砖混结构"
                    self.issue("invalid_value", "住房安全", rec)

    def _sex_mismatch(self) -> None:
        for row, rec in self._free_rows(lambda r, h: True, self.issue_count("sex_mismatch")):
            if "sex" not in [c.key for c in self.styles[rec.township_code].columns]:
                continue
            row.sex = "女" if row.sex == "男" else "男"
            self.issue("sex_mismatch", "性别", rec, row)

    def _village_not_in_township(self) -> None:
        others = self.world.geo.villages
        for row, rec in self._free_rows(
            lambda r, h: r.relation != "户主", self.issue_count("village_not_in_township")
        ):
            own = {v.short for v in self.world.geo.villages_of(rec.township_code)} | {
                v.name for v in self.world.geo.villages_of(rec.township_code)
            }
            candidates = [
                v.short
                for v in others
                if v.township_code != rec.township_code and v.short not in own
            ]
            row.village = candidates[int(self.rng.integers(len(candidates)))]
            self.issue("village_not_in_township", "行政村", rec, row)

    def _household_issues(self) -> None:
        for rec in self.households(
            lambda h: self.exited(h) and self._untouched(h) and rec_ok(h),
            self.issue_count("exit_year_missing"),
        ):
            rec.exit_year = None
            self.issue("exit_year_missing", "脱贫年度", rec)
        n = self.issue_count("implausible_income")
        picked = self.households(
            lambda h: not self.exited(h) and h.exit_status != "已脱贫" and self._untouched(h), n
        )
        for i, rec in enumerate(picked):
            rec.income = float((-2360, 1258000, -800, 985000)[i % 4])
            self.issue("implausible_income", "年人均可支配收入", rec)
        # Exited households only get implausibly high incomes: a negative one would also be R10.
        for i, rec in enumerate(self.households(lambda h: self._untouched(h), n - len(picked))):
            rec.income = float((1258000, 985000, 736500)[i % 3])
            self.issue("implausible_income", "年人均可支配收入", rec)
        for i, rec in enumerate(
            self.households(
                lambda h: isinstance(h.family_size, int) and self._untouched(h),
                self.issue_count("bad_number") // 2,
            )
        ):
            rec.family_size = Raw(("不详", "三口", "待核")[i % 3])
            self.issue("bad_number", "家庭人口", rec)
        self._household_head()
        for i, rec in enumerate(
            self.households(
                lambda h: isinstance(h.family_size, int) and self._untouched(h),
                self.issue_count("family_size_mismatch"),
            )
        ):
            assert isinstance(rec.family_size, int)  # picked for an int family size
            rec.family_size = (
                rec.family_size + (1 if i % 2 == 0 else -1)
                if rec.family_size > 1
                else rec.family_size + 1
            )
            self.issue("family_size_mismatch", "", rec, household_level=True)

    def _household_head(self) -> None:
        """No 户主 among the 正常 members, or two.

        The check counts active members only (a dead 户主 is no head), so both variants
        change active rows: a second head made of a member who died or moved out would
        leave the household with its one head, and nothing to find.
        """
        for i, rec in enumerate(
            self.households(
                lambda h: self._untouched(h) and any(r.active for r in h.rows),
                self.issue_count("household_head"),
            )
        ):
            active = [r for r in rec.rows if r.active]
            others = [r for r in active if r.relation != "户主"]
            if i % 2 == 0 or not others:
                for r in active:
                    if r.relation == "户主":
                        r.relation = "其他"
                variant = "no_head"
            else:
                others[0].relation = "户主"
                variant = "two_heads"
            self.issue("household_head", "", rec, household_level=True)
            self.log.append(
                Injection("issue", "household_head", variant, rec.township_code, rec.hh_id)
            )

    def _foreign_rows(self) -> None:
        """A neighbour's household pasted into a workbook: one issue per row, nothing loaded."""
        targets = [c for c, s in self.styles.items() if s.has_township_column]
        if not targets:
            return
        for k, rec in enumerate(
            self.households(
                lambda h: self._untouched(h) and all(r.active for r in h.rows),
                self.issue_count("foreign_township"),
            )
        ):
            hosts = [c for c in targets if c != rec.township_code]
            if not hosts:
                continue
            host = hosts[k % len(hosts)]
            clone = foreign_copy(rec)
            self.roster.workbooks[host].append(clone)
            for row in clone.rows:
                self.issues.append(
                    IssueRef("foreign_township", "乡镇", host, household_id=rec.hh_id, row=row)
                )
            self.log.append(
                Injection(
                    "issue",
                    "foreign_township",
                    "household_pasted",
                    host,
                    rec.hh_id,
                    note=f"{len(clone.rows)} rows of {rec.township_code}",
                )
            )

    # ------------------------------------------------------------ data-quality issues (extracts)

    def extract_issues(self) -> None:
        stopped = [
            d
            for d in self.world.dibao
            if not d.poor and d.status == "停保" and d.stop_date is not None
        ]
        order = [stopped[int(i)] for i in self.rng.permutation(len(stopped))]
        n_date = self.issue_count("bad_date") // 3 or 1
        n_num = self.issue_count("bad_number") // 4 or 1
        n_inv = self.issue_count("invalid_value") // 4 or 1
        n_id = self.issue_count("invalid_id") // 2 or 1
        n_req = max(self.issue_count("required_missing") // 6, 1)
        cursor = 0

        def take(k: int) -> list[DibaoRow]:
            nonlocal cursor
            got = order[cursor : cursor + k]
            cursor += k
            return got

        for i, d in enumerate(take(n_date)):
            d.text["stop_date"] = ("2017-02-30", "20171301", "2017年13月1日", "2017.2.30", "无")[
                i % 5
            ]
            self._dibao_issue("bad_date", "停保日期", d)
        for i, d in enumerate(take(n_num)):
            d.text["monthly_amount"] = ("待核定", "—", "三百元")[i % 3]
            self._dibao_issue("bad_number", "月保障金额", d)
        for i, d in enumerate(take(n_inv)):
            if i % 2:
                d.text["category"] = "临时救助"
                self._dibao_issue("invalid_value", "保障类别", d)
            else:
                d.text["stop_reason"] = "户籍迁出"
                self._dibao_issue("invalid_value", "停保原因", d)
        for i, d in enumerate(take(n_id)):
            d.id_written = _mistype(d.identity, i + 4, swap=bool(i % 2))
            self._dibao_issue("invalid_id", "证件号码", d)
        for d in take(n_req):
            d.text["name"] = ""
            self._dibao_issue("required_missing", "姓名", d)

        def resident() -> tuple[int, str, str] | None:
            cand = self._insured_resident()
            return None if cand is None else (cand["pid"], cand["identity"], cand["township_code"])

        for i in range(n_date):
            if (got := resident()) is None:
                break
            pid, identity, town = got
            self.enrol.person_text.setdefault(pid, {})["birth_date"] = (
                "1975-13-02",
                "1980/02/30",
                "19690231",
                "不详",
            )[i % 4]
            self._enrol_issue("bad_date", "出生日期", pid, town)
        for i in range(max(self.issue_count("invalid_id") - n_id, 1)):
            if (got := resident()) is None:
                break
            pid, identity, town = got
            self.enrol.person_text.setdefault(pid, {})["id_number"] = _mistype(
                identity, i + 2, swap=bool(i % 2)
            )
            self._enrol_issue("invalid_id", "证件号码", pid, town)
        for _ in range(n_inv):
            if (got := resident()) is None:
                break
            pid, identity, town = got
            self.enrol.set_fields[(pid, self.year)] = {"enrol_status": "正常参保"}
            self.issues.append(
                IssueRef(
                    "invalid_value",
                    "参保状态",
                    town,
                    source="insurance",
                    source_ref=(pid, self.year),
                )
            )

        bills = self.world.settlements.join(
            self.world.people.select("pid", "kind", "identity"), on="pid"
        ).filter(
            (pl.col("kind") == "resident") & ~pl.col("pid").is_in(list(self.enrol.person_text))
        )
        # Values that cannot be right, and IDs with invisible characters pasted in, on bills
        # of residents outside the roster: no rule reads them (R13 is about roster persons).
        n_amount = self.issue_count("implausible_amount")
        n_future = self.issue_count("implausible_date")
        n_hidden = self.issue_count("invisible_chars")
        bills = bills.sample(
            n=min(bills.height, n_date + n_num + n_amount + n_future + n_hidden),
            seed=int(self.rng.integers(1 << 31)),
        )
        amounts = (("total_cost", "医疗费用总额"), ("assistance_paid", "医疗救助支付"))
        for i, (sid, identity) in enumerate(bills.select("settlement_id", "identity").rows()):
            if i < n_date:
                self.claims.text[sid] = {"settle_date": ("2017-02-30", "2017/13/5", "不详")[i % 3]}
                kind, column = "bad_date", "结算日期"
            elif (k := i - n_date) < n_num:
                self.claims.text[sid] = {"total_cost": ("—", "待结算", "1,2,00")[i % 3]}
                kind, column = "bad_number", "医疗费用总额"
            elif (k := k - n_num) < n_amount:
                key, column = amounts[k % 2]
                self.claims.text[sid] = {key: ("-5000", "1e15", "-120.50")[k % 3]}
                kind = "implausible_amount"
            elif (k := k - n_amount) < n_future:
                self.claims.text[sid] = {"settle_date": ("2099-12-31", "2081-03-15")[k % 2]}
                kind, column = "implausible_date", "结算日期"
            else:
                cut = 6 + k % 8
                mark = ("\u200b", "\u202d", "\ufeff", "\u2066")[k % 4]
                self.claims.text[sid] = {"id_number": identity[:cut] + mark + identity[cut:]}
                kind, column = "invisible_chars", "证件号码"
            self.issues.append(IssueRef(kind, column, "", source="claims", source_ref=sid))

    def _dibao_issue(self, kind: str, column: str, d: DibaoRow) -> None:
        self.issues.append(
            IssueRef(kind, column, d.township_code, source="dibao", source_ref=d.uid)
        )

    def _enrol_issue(self, kind: str, column: str, pid: int, township_code: str) -> None:
        self.issues.append(
            IssueRef(kind, column, township_code, source="insurance", source_ref=(pid, None))
        )
