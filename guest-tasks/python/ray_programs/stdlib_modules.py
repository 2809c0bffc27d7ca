import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
def use_csv(rows):
    import csv
    import io
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    text = buf.getvalue()
    back = list(csv.reader(io.StringIO(text)))
    return text.replace("\r\n", "|"), back


@ray.remote
def use_difflib(a, b):
    import difflib
    ratio = difflib.SequenceMatcher(None, a, b).ratio()
    diff = list(difflib.unified_diff(a.split(), b.split(), lineterm="", n=0))
    return round(ratio, 4), diff, difflib.get_close_matches("appel", ["ape", "apple", "peach"])


@ray.remote
def use_zipfile(files):
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in sorted(files.items()):
            z.writestr(name, body)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return z.namelist(), [z.read(n).decode() for n in z.namelist()]


@ray.remote
def use_xml(doc):
    import xml.etree.ElementTree as ET
    root = ET.fromstring(doc)
    names = [item.get("name") for item in root.iter("item")]
    root.append(ET.Element("item", {"name": "added"}))
    return root.tag, names, len(root), ET.tostring(root.find("item")).decode()


@ray.remote
def use_numbers(values):
    import decimal
    import fractions
    import statistics
    frac = sum(fractions.Fraction(1, v) for v in values)
    decimal.getcontext().prec = 10
    dec = decimal.Decimal(1) / decimal.Decimal(7)
    return frac, dec, statistics.mean(values), statistics.median(values), round(statistics.pstdev(values), 6)


print("csv:", ray.get(use_csv.remote([["a", "b,c"], ["1", 'say "hi"']])))
print("difflib:", ray.get(use_difflib.remote("one two three", "one 2 three")))
print("zipfile:", ray.get(use_zipfile.remote({"b.txt": "bee", "a.txt": "ay"})))
print("xml:", ray.get(use_xml.remote("<root><item name='x'/><item name='y'>t</item></root>")))
frac, dec, mean, median, pstdev = ray.get(use_numbers.remote([2, 3, 6, 4]))
print("fraction:", type(frac).__name__, frac)
print("decimal:", type(dec).__name__, dec)
print("statistics:", mean, median, pstdev)
