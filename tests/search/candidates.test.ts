import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { discreteParameters, keptStructure, logSoftmax64, repairToBudget } from '../../src/search/budget.js';
import { budgetNeighbourhood, structureKey } from '../../src/search/candidates.js';
import { analyzeSpace, BUILTIN_SPACES } from '../../src/search/space.js';
import { allArchitectures, spaces } from './budget-spaces.js';

const randomLogits = (sa: ReturnType<typeof analyzeSpace>, rng: Rng) =>
  sa.space.edges.map((e) => Array.from({ length: e.choices.length }, () => 2 * rng.normal()));

describe('candidate architectures: the searched one and its one-edge neighbours within the budget', () => {
  it('every candidate fits, is the most probable fitting architecture with its edge choice, and exports a distinct network', () => {
    const rng = new Rng(11);
    for (const [name, make] of spaces) {
      const sa = make();
      const all = allArchitectures(sa).filter((c) => discreteParameters(sa, c).valid);
      const sizes = all.map((c) => discreteParameters(sa, c).parameters).sort((a, b) => a - b);
      for (let trial = 0; trial < 6; trial++) {
        const budget = sizes[Math.floor(rng.uniform() * sizes.length)];
        const logits = randomLogits(sa, rng);
        const logp = logits.map(logSoftmax64);
        const score = (c: number[]) => c.reduce((s, ci, ei) => s + logp[ei][ci], 0);
        const chosen = logits.map((l) => l.indexOf(Math.max(...l)));
        const searched = repairToBudget(sa, chosen, logits, budget).chosen;
        const list = budgetNeighbourhood(sa, searched, logits, { maxParameters: budget }, 1000);
        expect(list[0].chosen, name).toEqual(searched);
        const keys = list.map((c) => structureKey(sa, c.chosen));
        expect(new Set(keys).size, name).toBe(keys.length);
        for (const c of list) {
          expect(c.parameters, name).toBe(discreteParameters(sa, c.chosen).parameters);
          expect(c.parameters, name).toBeLessThanOrEqual(budget);
          expect(c.logProbability, name).toBeCloseTo(score(c.chosen), 9);
        }
        // After the searched one: largest first, then by log-probability.
        for (let i = 2; i < list.length; i++) {
          const [a, b] = [list[i - 1], list[i]];
          expect(b.parameters).toBeLessThanOrEqual(a.parameters);
          if (b.parameters === a.parameters) expect(b.logProbability).toBeLessThanOrEqual(a.logProbability);
        }
        // Brute force: for every edge and candidate, the most probable fitting architecture taking it
        // (and keeping the edge unless it is zero) is in the list, unless it exports the searched network.
        const fitting = all.filter((c) => discreteParameters(sa, c).parameters <= budget);
        sa.space.edges.forEach((e, ei) =>
          e.choices.forEach((ch, ci) => {
            if (ci === searched[ei]) return;
            const ok = fitting.filter(
              (c) =>
                c[ei] === ci &&
                (ch.op.type === 'zero' || keptStructure(sa, c).edges.some((k) => k.edge === ei)),
            );
            if (!ok.length) return;
            const best = Math.max(...ok.map(score));
            const key = structureKey(
              sa,
              ok.find((c) => score(c) === best)!,
            );
            const found = list.find((c) => structureKey(sa, c.chosen) === key);
            expect(found, `${name}: edge ${ei} choice ${ch.label}`).toBeDefined();
            expect(found!.logProbability).toBeGreaterThanOrEqual(best - 1e-9);
          }),
        );
        expect(budgetNeighbourhood(sa, searched, logits, { maxParameters: budget }, 2).length).toBe(
          Math.min(2, list.length),
        );
      }
    }
  });

  it('on the Boston mlp space with budget 802 the neighbours include the one-layer 50-unit networks', () => {
    const sa = analyzeSpace(BUILTIN_SPACES.mlp.build({ input: [13], outputUnits: 2 }));
    const labels = sa.space.edges.map((e) => e.choices.map((c) => c.label));
    const pick = (ls: string[]) => ls.map((l, ei) => labels[ei].indexOf(l));
    // A relaxation that prefers 13-25 tanh-2 + skip (430 parameters), as the Boston searches end.
    const favour = pick(['dense-25-tanh', 'identity', 'linear', 'linear']);
    const logits = labels.map((ls, ei) => ls.map((_, c) => (c === favour[ei] ? 4 : 0)));
    const list = budgetNeighbourhood(sa, favour, logits, { maxParameters: 802 }, 100);
    const keys = list.map((c) => structureKey(sa, c.chosen));
    expect(keys[0]).toBe('0:dense-25-tanh 1:identity 2:linear 3:linear');
    for (const act of ['relu', 'tanh', 'sigmoid'])
      expect(keys).toContain(`0:dense-50-${act} 1:identity 2:linear`);
    expect(keys).toContain('3:linear');
    expect(
      list.find((c) => structureKey(sa, c.chosen) === '0:dense-50-relu 1:identity 2:linear')!.parameters,
    ).toBe(802);
    expect(list.map((c) => c.parameters)).toEqual([430, 802, 802, 802, 430, 430, 402, 28]);
    // Cut at 4: the searched one and the three networks that use the whole budget.
    expect(
      budgetNeighbourhood(sa, favour, logits, { maxParameters: 802 }, 4)
        .slice(1)
        .map((c) => structureKey(sa, c.chosen).split(' ')[0]),
    ).toEqual(['0:dense-50-relu', '0:dense-50-tanh', '0:dense-50-sigmoid']);
  });
});
