-- 广州市公安局: population register (P01, P02) and criminal records (P07, never shared).
CREATE TABLE population (
    id_number          text PRIMARY KEY,
    name               text NOT NULL,
    gender             text NOT NULL CHECK (gender IN ('male', 'female')),
    birth_date         date NOT NULL,
    ethnicity          text NOT NULL,
    domicile_address   text NOT NULL,
    domicile_division  text NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX population_division ON population (domicile_division);
CREATE INDEX population_updated ON population (updated_at);

CREATE TABLE criminal_record (
    record_id    bigserial PRIMARY KEY,
    id_number    text NOT NULL,
    offence      text NOT NULL,
    decided_on   date NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

INSERT INTO population (id_number, name, gender, birth_date, ethnicity, domicile_address, domicile_division) VALUES
    ('440106199001011235', '张伟', 'male',   '1990-01-01', '汉族', '天河区天河路100号',   '440106'),
    ('440106199203154525', '李娜', 'female', '1992-03-15', '汉族', '天河区天河路100号',   '440106'),
    ('44010319781120046X', '王芳', 'female', '1978-11-20', '汉族', '荔湾区多宝路8号',     '440103'),
    ('440111199207085636', '刘洋', 'male',   '1992-07-08', '回族', '白云区机场路55号',    '440111'),
    ('440106200002290024', '陈静', 'female', '2000-02-29', '汉族', '天河区体育西路3号',   '440106'),
    ('440113199506052343', '黄敏', 'female', '1995-06-05', '壮族', '番禺区市桥街12号',    '440113');

INSERT INTO criminal_record (id_number, offence, decided_on) VALUES
    ('440113199506052343', '治安管理处罚记录', '2019-09-12');
