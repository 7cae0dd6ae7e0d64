// Which entries start processes that end at once (src/runtime/lunatic/short-entries.ts): their
// children stay on their parent's thread; test/lunatic-api.test.ts sees it on two joined worlds.
import { describe, expect, it } from 'vitest';
import { SHORT_REDUCTIONS, SHORT_STREAK, ShortEntries } from '../src/runtime/lunatic/short-entries.js';

describe('short entries', () => {
  it('are those whose last SHORT_STREAK processes each ended in their first turn within SHORT_REDUCTIONS', () => {
    const entries = new ShortEntries();
    for (let i = 0; i < SHORT_STREAK - 1; i++) entries.ended('quick', SHORT_REDUCTIONS);
    expect(entries.isShort('quick')).toBe(false);
    entries.ended('quick', 0);
    expect(entries.isShort('quick')).toBe(true);
    expect(entries.isShort('other')).toBe(false);
  });

  it('stop being short at one process that worked longer or waited, and count again from there', () => {
    const entries = new ShortEntries();
    for (let i = 0; i < SHORT_STREAK; i++) entries.ended(7, 100);
    expect(entries.isShort(7)).toBe(true);
    entries.ended(7, SHORT_REDUCTIONS + 1);
    expect(entries.isShort(7)).toBe(false);
    for (let i = 0; i < SHORT_STREAK; i++) entries.ended(7, 100);
    entries.ended(7, undefined); // waited, or spent a budget
    expect(entries.isShort(7)).toBe(false);
  });

  it('keep a table index and an export named by the same digits apart', () => {
    const entries = new ShortEntries();
    for (let i = 0; i < SHORT_STREAK; i++) entries.ended(3, 1);
    expect(entries.isShort(3)).toBe(true);
    expect(entries.isShort('3')).toBe(false);
  });
});
