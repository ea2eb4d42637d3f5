import { readFileSync } from 'node:fs'
import t from 'tap'
import { middlewareInfo } from '../../lib/core.js'
import { launchBrowser } from '../helpers/browser.js'
import { documentedStack, documentedSvg } from '../helpers/ordering-svg.js'

// docs/ordering.md shows the production stack's explain() output and docs/ordering.svg draws
// the stack: both are checked against the code, so neither can drift from it.

const markdown = readFileSync('docs/ordering.md', 'utf8')
const svg = readFileSync('docs/ordering.svg', 'utf8')

t.test("ordering.md: its text block is the production stack's explain(), exactly", async (t) => {
  const blocks = [...markdown.matchAll(/```text\n([\s\S]*?)\n```/g)].map((m) => m[1])
  t.equal(blocks.length, 1, 'ordering.md has one ```text block')
  t.equal(blocks[0], documentedStack().explain())
})

t.test('ordering.md: the stack it explains breaks no constraint', async (t) => {
  const stack = documentedStack()
  t.same(stack.violations, [])
  t.notMatch(stack.explain(), /BROKEN/)
})

t.test('ordering.md: names every layer of the production stack', async (t) => {
  for (const layer of documentedStack().layers) {
    const name = middlewareInfo(layer).name
    t.match(markdown, new RegExp(`\`${name}\``), `${name} is discussed`)
  }
})

t.test('ordering.svg: is well-formed XML with an <svg> root in the SVG namespace', async (t) => {
  const root = parseXml(svg)
  t.equal(root.name, 'svg')
  t.equal(root.attributes.get('xmlns'), 'http://www.w3.org/2000/svg')
  t.match(root.attributes.get('viewBox') ?? '', /^0 0 \d+ \d+$/)
})

t.test('ordering.svg: is what test/helpers/ordering-svg.ts draws from the production stack', async (t) => {
  t.equal(svg, documentedSvg(), 'regenerate: node --import @tapjs/typescript/import test/helpers/ordering-svg.ts')
  const drawn = [...svg.matchAll(/<g class="layer" data-name="([^"]+)">/g)].map((m) => m[1])
  t.same(
    drawn,
    documentedStack().layers.map((layer) => middlewareInfo(layer).name),
    'one band per layer, outermost first',
  )
})

t.test('ordering.svg: a browser parses it as SVG', async (t) => {
  const browser = await launchBrowser(t)
  if (!browser) return
  const page = await browser.newPage()
  const result = await page.evaluate((text) => {
    // Runs in the page, where the DOM's parser exists.
    const { DOMParser: Parser } = globalThis as unknown as { DOMParser: new () => BrowserXmlParser }
    const doc = new Parser().parseFromString(text, 'image/svg+xml')
    return { root: doc.documentElement.localName, errors: doc.getElementsByTagName('parsererror').length }
  }, svg)
  t.same(result, { root: 'svg', errors: 0 })
})

t.test('parseXml (the checker above): refuses what is not well-formed', async (t) => {
  t.equal(parseXml('<?xml version="1.0"?><!-- c --><a x="1"><b/>t &amp; u<![CDATA[<x>]]></a>').name, 'a')
  for (const bad of [
    '<a>',
    '<a></b>',
    '<a x=1/>',
    '<a x="1" x="2"/>',
    '<a>&nope;</a>',
    '<a>x < y</a>',
    '<a/><b/>',
    'text<a/>',
    '<a x="<"/>',
    '<a><b></a></b>',
    '<a>&#xZZ;</a>',
    '',
  ]) {
    t.throws(() => parseXml(bad), { name: 'Error' }, JSON.stringify(bad))
  }
})

/** The part of the browser's DOMParser the test uses (this project compiles without the DOM types). */
interface BrowserXmlParser {
  parseFromString(
    text: string,
    type: string,
  ): {
    documentElement: { localName: string }
    getElementsByTagName(name: string): { length: number }
  }
}

interface XmlElement {
  readonly name: string
  readonly attributes: Map<string, string>
}

/**
 * A strict well-formedness check of an XML document (XML 1.0 §2.1, without DTDs): one root
 * element, balanced and properly nested tags, quoted and unique attributes, only the
 * predefined and numeric entities, no raw `<` or `&` in text. Returns the root element.
 */
function parseXml(text: string): XmlElement {
  const NAME = /^[A-Za-z_:][\w.:-]*/
  const ENTITY = /^&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);/
  const checkText = (chunk: string, where: number) => {
    for (let i = chunk.indexOf('&'); i >= 0; i = chunk.indexOf('&', i + 1)) {
      if (!ENTITY.test(chunk.slice(i))) throw new Error(`bad entity at ${where + i}`)
    }
    if (chunk.includes('<')) throw new Error(`raw < at ${where}`)
  }
  const open: string[] = []
  let root: XmlElement | undefined
  let closedRoot = false
  let i = 0
  if (text.startsWith('<?xml')) {
    const end = text.indexOf('?>')
    if (end < 0) throw new Error('unterminated XML declaration')
    i = end + 2
  }
  while (i < text.length) {
    const lt = text.indexOf('<', i)
    const chunk = text.slice(i, lt < 0 ? text.length : lt)
    if (open.length === 0 && chunk.trim() !== '') throw new Error(`text outside the root at ${i}`)
    checkText(chunk, i)
    if (lt < 0) break
    i = lt
    if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i + 4)
      if (end < 0 || text.slice(i + 4, end).includes('--')) throw new Error(`bad comment at ${i}`)
      i = end + 3
    } else if (text.startsWith('<![CDATA[', i)) {
      if (open.length === 0) throw new Error(`CDATA outside the root at ${i}`)
      const end = text.indexOf(']]>', i)
      if (end < 0) throw new Error(`unterminated CDATA at ${i}`)
      i = end + 3
    } else if (text.startsWith('<?', i)) {
      const end = text.indexOf('?>', i)
      if (end < 0) throw new Error(`unterminated processing instruction at ${i}`)
      i = end + 2
    } else if (text.startsWith('</', i)) {
      const name = NAME.exec(text.slice(i + 2))?.[0]
      const end = text.indexOf('>', i)
      if (!name || end < 0 || text.slice(i + 2 + name.length, end).trim() !== '') throw new Error(`bad end tag at ${i}`)
      if (open.pop() !== name) throw new Error(`</${name}> does not close the open element at ${i}`)
      if (open.length === 0) closedRoot = true
      i = end + 1
    } else {
      const name = NAME.exec(text.slice(i + 1))?.[0]
      if (!name) throw new Error(`bad start tag at ${i}`)
      if (closedRoot || (open.length === 0 && root)) throw new Error(`a second root element at ${i}`)
      let j = i + 1 + name.length
      const attributes = new Map<string, string>()
      for (;;) {
        const space = /^\s*/.exec(text.slice(j))![0].length
        j += space
        if (text.startsWith('/>', j) || text[j] === '>') break
        const attribute = /^([A-Za-z_:][\w.:-]*)\s*=\s*("([^"<]*)"|'([^'<]*)')/.exec(text.slice(j))
        if (!attribute || space === 0) throw new Error(`bad attribute in <${name}> at ${j}`)
        if (attributes.has(attribute[1]!)) throw new Error(`duplicate attribute ${attribute[1]} at ${j}`)
        const value = attribute[3] ?? attribute[4] ?? ''
        checkText(value, j)
        attributes.set(attribute[1]!, value)
        j += attribute[0].length
      }
      if (!root) root = { name, attributes }
      if (text.startsWith('/>', j)) {
        if (open.length === 0) closedRoot = true
        i = j + 2
      } else {
        open.push(name)
        i = j + 1
      }
    }
  }
  if (!root || open.length > 0)
    throw new Error(open.length > 0 ? `<${open.at(-1)}> is never closed` : 'no root element')
  return root
}
