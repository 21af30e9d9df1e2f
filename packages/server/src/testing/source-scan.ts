/**
 * Scanning our own TypeScript sources, for tests that check what the code says (no SQL outside the store, no
 * citation of documents outside the repo): the non-test `.ts` files under a folder, and the string and template
 * literals of a source as the TypeScript compiler sees them (comments are not literals).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

/** Every non-test `.ts` file under `dir` (node_modules aside). */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

export interface Literal {
  node: ts.Node;
  /** its text (a template's literal part without the substitutions) */
  text: string;
  /** 1-based */
  line: number;
}

/** Each string or template literal (part) of a TypeScript source, in source order. */
export function stringLiterals(name: string, text: string): Literal[] {
  const sf = ts.createSourceFile(name, text, ts.ScriptTarget.Latest, true);
  const out: Literal[] = [];
  const visit = (node: ts.Node) => {
    if (
      ts.isStringLiteral(node) ||
      ts.isNoSubstitutionTemplateLiteral(node) ||
      ts.isTemplateHead(node) ||
      ts.isTemplateMiddle(node) ||
      ts.isTemplateTail(node)
    ) {
      out.push({ node, text: node.text, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}
